/*
 * stub-app: a tiny stand-in for the English Listening Trainer (ELT) web app.
 * Built with `gcc -static` by scripts/testenv.sh and shipped FROM scratch.
 *
 * Behaviour (environment; the image bakes STUB_VERSION/STUB_COMMIT/STUB_BEHAVIOUR):
 *   STUB_VERSION       version string reported by /api/health (v1, v2, ...)
 *   STUB_COMMIT        40-hex commit SHA reported by /api/health
 *   STUB_BEHAVIOUR     good | bad | slow   (bad: health answers 503 error;
 *                      slow: 503 "starting" until STUB_READY_AFTER seconds after start)
 *   STUB_READY_AFTER   seconds before a slow app turns healthy (default 20)
 *   STUB_PORT          listen port (default 3000)
 *   STUB_LOG_FLOOD     N: print N log lines per second instead of one
 *   STUB_DATA_DIR      data folder (default /data)
 *   STUB_MODE=migrate  or first argument `migrate`: append a line to
 *                      $STUB_DATA_DIR/migrations.log and exit 0;
 *                      with STUB_MIGRATE_FAIL=1 print an error and exit 3.
 *
 * Records: at each start the server appends one line to $STUB_DATA_DIR/records.log
 * ("<time> start version=.. commit=.. pid=.."), so tests can prove the data volume
 * survives deploys.
 *
 * Endpoints: GET /api/health, GET /api/tts/health, GET / (plain text), anything else 404.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *version = "v0";
static const char *commit = "0000000000000000000000000000000000000000";
static const char *behaviour = "good";
static const char *data_dir = "/data";
static long ready_after = 20;
static long flood = 0;
static unsigned long served = 0;
static struct timespec started;

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void utc_stamp(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

static int append_line(const char *file, const char *line) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data_dir, file);
    mkdir(data_dir, 0755);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return -1;
    write_all(fd, line, strlen(line));
    close(fd);
    return 0;
}

static void on_term(int sig) {
    char msg[128];
    int n = snprintf(msg, sizeof msg, "stub-app %s received signal %d, exiting\n", version, sig);
    write_all(1, msg, (size_t)n);
    _exit(0);
}

static int run_migrate(void) {
    char ts[32], line[256];
    utc_stamp(ts, sizeof ts);
    if (strcmp(env_or("STUB_MIGRATE_FAIL", "0"), "1") == 0) {
        fprintf(stderr, "%s ERROR stub-app %s migrate failed: simulated migration error (STUB_MIGRATE_FAIL=1)\n",
                ts, version);
        return 3;
    }
    snprintf(line, sizeof line, "%s migrate version=%s commit=%s\n", ts, version, commit);
    if (append_line("migrations.log", line) != 0) {
        fprintf(stderr, "%s ERROR stub-app %s migrate: cannot write %s/migrations.log: %s\n", ts, version,
                data_dir, strerror(errno));
        return 3;
    }
    printf("%s INFO stub-app %s migrate ok\n", ts, version);
    return 0;
}

/* 0 healthy, 1 failing, 2 starting */
static int health_state(void) {
    if (strcmp(behaviour, "bad") == 0) return 1;
    if (strcmp(behaviour, "slow") == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - started.tv_sec < ready_after) return 2;
    }
    return 0;
}

static void respond(int fd, int code, const char *ctype, const char *body, int head_only) {
    const char *reason = code == 200 ? "OK" : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed"
                       : code == 503 ? "Service Unavailable" : "Bad Request";
    char hdr[512];
    size_t blen = strlen(body);
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     code, reason, ctype, blen);
    write_all(fd, hdr, (size_t)n);
    if (!head_only) write_all(fd, body, blen);
}

static void handle(int fd) {
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[4096];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t r = read(fd, req + got, sizeof req - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[got] = 0;
    char method[16] = "", path[1024] = "";
    if (sscanf(req, "%15s %1023s", method, path) != 2) {
        respond(fd, 400, "application/json", "{\"error\":\"bad request\"}\n", 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    served++;
    int head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        respond(fd, 405, "application/json", "{\"error\":\"method not allowed\"}\n", 0);
        return;
    }
    char body[512];
    int st = health_state();
    if (strcmp(path, "/api/health") == 0) {
        if (st == 0)
            snprintf(body, sizeof body, "{\"status\":\"ok\",\"version\":\"%s\",\"commit\":\"%s\"}\n", version, commit);
        else if (st == 1)
            snprintf(body, sizeof body,
                     "{\"status\":\"error\",\"version\":\"%s\",\"commit\":\"%s\",\"error\":\"database unavailable (stub)\"}\n",
                     version, commit);
        else
            snprintf(body, sizeof body, "{\"status\":\"starting\",\"version\":\"%s\",\"commit\":\"%s\"}\n", version, commit);
        respond(fd, st == 0 ? 200 : 503, "application/json", body, head);
    } else if (strcmp(path, "/api/tts/health") == 0) {
        snprintf(body, sizeof body, "{\"status\":\"%s\",\"engine\":\"stub-tts\",\"version\":\"%s\"}\n",
                 st == 0 ? "ok" : st == 1 ? "error" : "starting", version);
        respond(fd, st == 0 ? 200 : 503, "application/json", body, head);
    } else if (strcmp(path, "/") == 0) {
        snprintf(body, sizeof body, "English Listening Trainer stub %s (%s)\n", version, commit);
        respond(fd, 200, "text/plain; charset=utf-8", body, head);
    } else {
        respond(fd, 404, "application/json", "{\"error\":\"not found\"}\n", head);
    }
}

int main(int argc, char **argv) {
    version = env_or("STUB_VERSION", version);
    commit = env_or("STUB_COMMIT", commit);
    behaviour = env_or("STUB_BEHAVIOUR", behaviour);
    data_dir = env_or("STUB_DATA_DIR", data_dir);
    ready_after = atol(env_or("STUB_READY_AFTER", "20"));
    flood = atol(env_or("STUB_LOG_FLOOD", "0"));
    clock_gettime(CLOCK_MONOTONIC, &started);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if ((argc > 1 && strcmp(argv[1], "migrate") == 0) || strcmp(env_or("STUB_MODE", ""), "migrate") == 0)
        return run_migrate();

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);

    int port = atoi(env_or("STUB_PORT", "3000"));
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 64) != 0) {
        fprintf(stderr, "stub-app: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }

    char ts[32], line[512];
    utc_stamp(ts, sizeof ts);
    snprintf(line, sizeof line, "%s start version=%s commit=%s pid=%d\n", ts, version, commit, (int)getpid());
    if (append_line("records.log", line) != 0)
        printf("%s WARN stub-app %s cannot append to %s/records.log: %s\n", ts, version, data_dir, strerror(errno));
    printf("%s INFO stub-app %s listening on :%d behaviour=%s commit=%s flood=%ld\n", ts, version, port, behaviour,
           commit, flood);

    /* Log output: one line per second, or `flood` lines per second written in 10 ms batches. */
    double t0 = mono_now();
    double next = t0 + (flood > 0 ? 0.01 : 1.0);
    unsigned long long emitted = 0, tick = 0;
    static char out[1 << 20];
    for (;;) {
        double now = mono_now();
        int wait_ms = (int)((next - now) * 1000.0);
        if (wait_ms < 0) wait_ms = 0;
        struct pollfd pfd = {ls, POLLIN, 0};
        int pr = poll(&pfd, 1, wait_ms);
        if (pr > 0 && (pfd.revents & POLLIN)) {
            int c = accept(ls, NULL, NULL);
            if (c >= 0) {
                handle(c);
                close(c);
            }
        }
        now = mono_now();
        if (now < next) continue;
        utc_stamp(ts, sizeof ts);
        if (flood > 0) {
            unsigned long long due = (unsigned long long)((now - t0) * (double)flood);
            size_t len = 0;
            while (emitted < due) {
                if (len > sizeof out - 256) {
                    write_all(1, out, len);
                    len = 0;
                }
                emitted++;
                len += (size_t)snprintf(out + len, sizeof out - len,
                                        "%s INFO stub-app %s flood n=%llu served=%lu\n", ts, version, emitted, served);
            }
            write_all(1, out, len);
            next += 0.01;
        } else {
            tick++;
            int n = snprintf(out, sizeof out, "%s INFO stub-app %s tick n=%llu served=%lu\n", ts, version, tick, served);
            write_all(1, out, (size_t)n);
            next += 1.0;
        }
        if (next < now) next = now; /* after a stall, don't burst to catch up the schedule */
    }
}

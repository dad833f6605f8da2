/*
 * stub-proxy: a tiny stand-in for Traefik in front of several compose services, for the
 * multi-service sandbox scenario and its test (the real traefik image cannot be pulled here).
 * Built with `gcc -static` and shipped FROM scratch (testenv/stubproxy/Dockerfile).
 *
 *   stub-proxy [--listen PORT] [--ping PORT] [--certs DIR] --route HOST,PATH,UPSTREAM[,strip]...
 *   stub-proxy healthcheck [--ping PORT]     exit 0 when the ping entrypoint answers 200
 *
 * Routing, like Traefik's Host(..) && PathPrefix(..) rules: a request goes to the route whose
 * HOST equals its Host header (port ignored; `*` matches any host) and whose PATH is the
 * longest prefix of its path; a named host beats `*` at equal length. `strip` removes the
 * prefix before forwarding (Traefik's StripPrefix). UPSTREAM is `service:port`, resolved
 * through Docker's DNS at each request, so a recreated container is found at its new address.
 * No route: 404. Upstream unreachable: 502. The upstream request is sent with
 * `Connection: close`, so one client connection carries one request.
 *
 * Ping entrypoint (Traefik's --ping): GET /ping answers `OK`.
 * Certificates: at start, if DIR/acme.json is missing it is written once with a random
 * account key id (like Traefik's ACME store on its certificates volume); it is never
 * rewritten, so a test can prove the volume survives deploys. Each start appends a line to
 * DIR/starts.log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 32
#define HEAD_MAX 16384

struct route {
    char host[128];
    char path[256];
    char upstream_host[128];
    char upstream_port[8];
    int strip;
};

static struct route routes[MAX_ROUTES];
static int nroutes;

static void die(const char *what) {
    fprintf(stderr, "stub-proxy: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int code, const char *reason, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, strlen(body));
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
}

static int parse_route(const char *spec) {
    char buf[700];
    if (nroutes >= MAX_ROUTES || strlen(spec) >= sizeof buf) return -1;
    strcpy(buf, spec);
    char *save = NULL;
    char *host = strtok_r(buf, ",", &save);
    char *path = strtok_r(NULL, ",", &save);
    char *up = strtok_r(NULL, ",", &save);
    char *opt = strtok_r(NULL, ",", &save);
    if (!host || !path || !up || path[0] != '/') return -1;
    char *colon = strrchr(up, ':');
    if (!colon || colon == up || strlen(colon + 1) == 0 || strlen(colon + 1) >= 8) return -1;
    struct route *r = &routes[nroutes];
    if (strlen(host) >= sizeof r->host || strlen(path) >= sizeof r->path ||
        (size_t)(colon - up) >= sizeof r->upstream_host)
        return -1;
    strcpy(r->host, host);
    strcpy(r->path, path);
    memcpy(r->upstream_host, up, (size_t)(colon - up));
    r->upstream_host[colon - up] = 0;
    strcpy(r->upstream_port, colon + 1);
    r->strip = opt && strcmp(opt, "strip") == 0;
    if (opt && !r->strip) return -1;
    nroutes++;
    return 0;
}

/* A path prefix matches at a segment boundary: `/api` matches `/api` and `/api/x`, not `/apix`. */
static int prefix_matches(const char *prefix, const char *path) {
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0) return 0;
    return prefix[n - 1] == '/' || path[n] == 0 || path[n] == '/' || path[n] == '?';
}

static const struct route *pick(const char *host, const char *path) {
    const struct route *best = NULL;
    size_t best_len = 0;
    int best_named = 0;
    for (int i = 0; i < nroutes; i++) {
        const struct route *r = &routes[i];
        int named = strcmp(r->host, "*") != 0;
        if (named && strcasecmp(r->host, host) != 0) continue;
        if (!prefix_matches(r->path, path)) continue;
        size_t len = strlen(r->path);
        if (!best || len > best_len || (len == best_len && named && !best_named)) {
            best = r;
            best_len = len;
            best_named = named;
        }
    }
    return best;
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, 0);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Copy both ways until either side closes. */
static void relay(int a, int b) {
    char buf[16384];
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, 60000) <= 0) return;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0) return;
            write_all(p[1 - i].fd, buf, (size_t)n);
        }
    }
}

static void serve(int fd) {
    char head[HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    alarm(30);
    while (len < HEAD_MAX) {
        ssize_t n = read(fd, head + len, HEAD_MAX - len);
        if (n <= 0) return;
        len += (size_t)n;
        head[len] = 0;
        if ((end = strstr(head, "\r\n\r\n"))) break;
    }
    if (!end) {
        respond(fd, 431, "Request Header Fields Too Large", "request head too large\n");
        return;
    }
    char method[16], target[2048];
    if (sscanf(head, "%15s %2047s", method, target) != 2) {
        respond(fd, 400, "Bad Request", "bad request line\n");
        return;
    }
    char host[256] = "";
    for (char *line = strstr(head, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Host:", 5) == 0) {
            const char *v = line + 7;
            while (*v == ' ') v++;
            size_t n = strcspn(v, ":\r");
            if (n >= sizeof host) n = sizeof host - 1;
            memcpy(host, v, n);
            host[n] = 0;
            break;
        }
    }
    const struct route *r = pick(host, target);
    if (!r) {
        respond(fd, 404, "Not Found", "404 page not found\n");
        return;
    }
    const char *path = target;
    char stripped[2048];
    if (r->strip) {
        size_t n = strlen(r->path);
        if (r->path[n - 1] == '/') n--;
        snprintf(stripped, sizeof stripped, "%s%s", target[n] == '/' ? "" : "/", target + n);
        path = stripped;
    }
    int up = connect_to(r->upstream_host, r->upstream_port);
    if (up < 0) {
        respond(fd, 502, "Bad Gateway", "Bad Gateway\n");
        return;
    }
    /* Request line with the (stripped) path, the headers minus Connection, then ours. */
    char out[HEAD_MAX + 4096];
    const char *version = strstr(head, " HTTP/");
    const char *eol = strstr(head, "\r\n");
    int n = snprintf(out, sizeof out, "%s %s%.*s\r\n", method, path,
                     version && version < eol ? (int)(eol - version) : 9,
                     version && version < eol ? version : " HTTP/1.0");
    for (char *line = (char *)eol; line && line < end; line = strstr(line + 2, "\r\n")) {
        char *next = strstr(line + 2, "\r\n");
        if (!next || line + 2 >= end) break;
        if (strncasecmp(line + 2, "Connection:", 11) == 0 ||
            strncasecmp(line + 2, "Keep-Alive:", 11) == 0)
            continue;
        n += snprintf(out + n, sizeof out - (size_t)n, "%.*s\r\n", (int)(next - line - 2), line + 2);
        if ((size_t)n >= sizeof out - 64) {
            respond(fd, 431, "Request Header Fields Too Large", "request head too large\n");
            close(up);
            return;
        }
    }
    n += snprintf(out + n, sizeof out - (size_t)n, "Connection: close\r\nX-Forwarded-Host: %s\r\n\r\n", host);
    write_all(up, out, (size_t)n);
    /* Whatever of the body came with the head. */
    size_t body = len - (size_t)(end + 4 - head);
    if (body > 0) write_all(up, end + 4, body);
    alarm(0);
    relay(fd, up);
    close(up);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(fd, 64) < 0) die("listen");
    return fd;
}

static void ping(int fd) {
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) return;
    buf[n] = 0;
    if (strncmp(buf, "GET /ping ", 10) == 0 || strncmp(buf, "HEAD /ping ", 11) == 0)
        respond(fd, 200, "OK", "OK");
    else
        respond(fd, 404, "Not Found", "404 page not found\n");
}

static void certs_init(const char *dir) {
    char path[512], line[256];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(path, sizeof path, "%s/acme.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        unsigned char rnd[16];
        int r = open("/dev/urandom", O_RDONLY);
        if (r < 0 || read(r, rnd, sizeof rnd) != (ssize_t)sizeof rnd) memset(rnd, 7, sizeof rnd);
        if (r >= 0) close(r);
        char hex[33];
        for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", rnd[i]);
        int n = snprintf(line, sizeof line,
                         "{\"stub\":{\"Account\":{\"KeyId\":\"%s\",\"Created\":\"%s\"},\"Certificates\":[]}}\n",
                         hex, stamp);
        write_all(fd, line, (size_t)n);
        close(fd);
    } else if (errno != EEXIST) {
        fprintf(stderr, "stub-proxy: cannot write %s: %s\n", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/starts.log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        int n = snprintf(line, sizeof line, "%s start pid=%d\n", stamp, (int)getpid());
        write_all(fd, line, (size_t)n);
        close(fd);
    }
}

static void on_term(int sig) {
    (void)sig;
    _exit(0);
}

static int healthcheck(int port) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd = connect_to("127.0.0.1", p);
    if (fd < 0) return 1;
    const char *req = "GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    write_all(fd, req, strlen(req));
    char buf[64] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 12 && strncmp(buf + 9, "200", 3) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int port = 80, ping_port = 8082, check = 0;
    const char *certs = "/certs";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "healthcheck") == 0) check = 1;
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ping") == 0 && i + 1 < argc) ping_port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--certs") == 0 && i + 1 < argc) certs = argv[++i];
        else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            if (parse_route(argv[++i]) != 0) {
                fprintf(stderr, "stub-proxy: bad --route %s (want HOST,PATH,SERVICE:PORT[,strip])\n", argv[i]);
                return 64;
            }
        } else {
            fprintf(stderr, "stub-proxy: unknown argument %s\n", argv[i]);
            return 64;
        }
    }
    if (check) return healthcheck(ping_port);
    signal(SIGPIPE, SIG_IGN);
    /* PID 1 in its container: without a handler SIGTERM would be ignored until the kill. */
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    /* Children are reaped by the kernel. */
    signal(SIGCHLD, SIG_IGN);
    certs_init(certs);
    int web = listen_on(port), pfd = listen_on(ping_port);
    for (int i = 0; i < nroutes; i++)
        printf("route %s%s -> %s:%s%s\n", routes[i].host, routes[i].path, routes[i].upstream_host,
               routes[i].upstream_port, routes[i].strip ? " (strip)" : "");
    printf("stub-proxy listening on :%d, ping on :%d\n", port, ping_port);
    fflush(stdout);
    struct pollfd p[2] = {{web, POLLIN, 0}, {pfd, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            int c = accept(p[i].fd, NULL, NULL);
            if (c < 0) continue;
            pid_t pid = fork();
            if (pid == 0) {
                close(web);
                close(pfd);
                if (i == 0) serve(c); else ping(c);
                close(c);
                _exit(0);
            }
            close(c);
        }
    }
}

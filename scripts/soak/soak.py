#!/usr/bin/env python3
"""Fault-injection soak of the deploy engine (issue 16). Run through `scripts/soak.sh run`.

Each cycle deploys (or rolls back to) a target on the soak's own engine through the real
binary, injects one fault at a chosen step (seeded; the cycle's seed is printed so it can be
replayed with --seed S --cycles 1 --first-cycle N), heals the fault, then checks the
invariants of issue 16. Any violation is a hard failure: the cycle's seed and a dump
(status/lock/history JSON, docker ps, the cycle's output) are written to the log folder.

Why Python and not a Rust binary: the harness drives the real `elt-console` binary, process
groups, a fault proxy and a second dockerd from outside, as an operator's host would; a script
needs no build on a 2-core machine and python3 is already a test-environment requirement.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

STEPS_ANY = ["resolve", "pull", "compare", "backup", "migrate", "recreate", "health"]
FAULTS = {
    # kind: steps where it may be injected
    "kill9": STEPS_ANY,
    "kill9-group": STEPS_ANY,
    "sighup": STEPS_ANY,
    "sigterm": STEPS_ANY,
    "sigint": STEPS_ANY,
    "dockerd-restart": ["pull", "recreate", "health"],
    "registry-stop": ["resolve", "pull"],
    "registry-500": ["resolve", "pull"],
    "registry-429": ["resolve", "pull"],
    "registry-slow": ["resolve", "pull"],
    "race-deploy": ["pull", "recreate", "health"],
    "race-watch": ["pull", "recreate", "health"],
    "race-release": ["pull", "recreate", "health"],
    "disk-full": ["resolve", "pull", "recreate", "health", "retention"],
    "sqlite-lock": ["resolve", "pull", "recreate", "health"],
    "health-hang": ["recreate", "health"],
    "health-flap": ["recreate", "health"],
    "health-big": ["recreate", "health"],
}
TERMINAL = {"succeeded", "skipped", "failed", "rolled-back", "failed-down", "cancelled", "interrupted"}
FAKE_TOKEN = "ghp_SOAKfakeTOKEN0123456789abcdefSECRET"


def now():
    return time.monotonic()


# ------------------------------------------------------------------ fault proxy
class FaultProxy:
    """HTTP proxy on loopback in front of an upstream port; `mode` decides each request's fate:
    pass, 500, 429, slow, hang, flap (alternating pass / 503), big (200 with 10 MB)."""

    def __init__(self, port, upstream):
        self.port, self.upstream, self.mode = port, upstream, "pass"
        self.flip = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(30)
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline(65536)
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers, length = [], 0
                while True:
                    h = f.readline(65536)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    if k.lower() == "content-length":
                        length = int(v.strip())
                    if k.lower() not in ("connection", "keep-alive", "proxy-connection"):
                        headers.append((k.strip(), v.strip()))
                body = f.read(length) if length else b""
                if not self._answer(c, method, path, headers, body):
                    return
        except (OSError, ValueError):
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _send(self, c, status, reason, headers, body, method, slow=False):
        head = f"HTTP/1.1 {status} {reason}\r\n"
        for k, v in headers:
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                head += f"{k}: {v}\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        c.sendall(head.encode("latin-1"))
        if method == "HEAD":
            return
        if slow:
            for i in range(0, len(body), 16384):
                c.sendall(body[i : i + 16384])
                time.sleep(0.05)
        else:
            c.sendall(body)

    def _answer(self, c, method, path, headers, body):
        mode = self.mode
        if mode == "hang":
            t0 = now()
            while self.mode == "hang" and now() - t0 < 60:
                time.sleep(0.1)
            return False
        if mode in ("500", "429"):
            extra = [("Retry-After", "1")] if mode == "429" else []
            self._send(c, int(mode), "Fault", extra, b"", method)
            return True
        if mode == "flap":
            self.flip = not self.flip
            if self.flip:
                self._send(c, 503, "Flap", [], b'{"status":"error"}', method)
                return True
        if mode == "big":
            self._send(c, 200, "OK", [("Content-Type", "application/json")], b"x" * (10 << 20), method)
            return True
        if mode == "slow":
            time.sleep(1.5)
        try:
            up = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
            up.request(method, path, body=body or None, headers=dict(headers))
            r = up.getresponse()
            data = r.read() if method != "HEAD" else b""
            hdrs = r.getheaders()
            if method == "HEAD":
                cl = r.getheader("Content-Length")
                hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-length"]
                head = f"HTTP/1.1 {r.status} {r.reason}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in hdrs if k.lower() not in ("connection", "transfer-encoding")
                )
                head += f"Content-Length: {cl or 0}\r\nConnection: keep-alive\r\n\r\n"
                c.sendall(head.encode("latin-1"))
            else:
                self._send(c, r.status, r.reason, hdrs, data, method, slow=(mode == "slow"))
            up.close()
            return True
        except OSError:
            # The upstream is down: what a client sees of a dead registry behind a proxy.
            self._send(c, 502, "Bad Gateway", [], b"", method)
            return True


# ------------------------------------------------------------------ probe
class Probe:
    """Polls the app's health directly (not through the health fault proxy) every 100 ms."""

    INTERVAL = 0.1

    def __init__(self, port):
        self.port = port
        self.samples = []  # (t, ok)
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            t = now()
            ok = False
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/api/health")
                ok = c.getresponse().status == 200
                c.close()
            except (OSError, http.client.HTTPException):
                ok = False
            with self.lock:
                self.samples.append((t, ok))
                if len(self.samples) > 200000:
                    self.samples = self.samples[-100000:]
            time.sleep(max(0.0, self.INTERVAL - (now() - t)))

    def window(self, t0, t1):
        with self.lock:
            return [s for s in self.samples if t0 <= s[0] <= t1]

    def outages(self, t0, t1):
        """Outage intervals (start, end) within [t0, t1]; an open one ends at t1."""
        out, start = [], None
        for t, ok in self.window(t0, t1):
            if not ok and start is None:
                start = t
            elif ok and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, t1))
        return out

    def ok_now(self, timeout):
        deadline = now() + timeout
        while now() < deadline:
            with self.lock:
                last = self.samples[-3:]
            if len(last) == 3 and all(ok for _, ok in last):
                return True
            time.sleep(0.1)
        return False


# ------------------------------------------------------------------ harness
class Violation(Exception):
    pass


class Soak:
    def __init__(self, args, env):
        self.args, self.env = args, env
        self.root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        self.state = env["ELT_SOAK_DIR"]
        self.docker_host = env["ELT_SOAK_DOCKER_HOST"]
        self.reg_port = int(env["ELT_SOAK_REGISTRY_PORT"])
        self.proxy_port = args.registry_proxy_port
        self.app_port = args.app_port
        self.health_port = args.health_proxy_port
        self.tmpfs = env["ELT_SOAK_STATE_TMPFS"]
        self.store_dir = os.path.join(self.tmpfs, "store")
        self.proj = os.path.join(self.state, "project")
        self.logs = args.log_dir or os.path.join(self.state, "logs")
        self.project = "elt-soak"
        self.repo = f"127.0.0.1:{self.proxy_port}/{env['ELT_SOAK_REPO_PATH']}"
        self.tags = {n: env[f"ELT_SOAK_TAG_V{n}"] for n in (1, 2, 3, 4)}
        self.behaviour = {n: env[f"ELT_SOAK_BEHAVIOUR_V{n}"] for n in (1, 2, 3, 4)}
        self.bin = args.bin or os.path.join(self.root, "target", "debug", "elt-console")
        self.stats = {"cycles": 0, "violations": [], "faults": {}, "missed": {}, "recover": {}, "outages": []}
        os.makedirs(self.logs, exist_ok=True)
        self.reg_proxy = FaultProxy(self.proxy_port, self.reg_port)
        self.health_proxy = FaultProxy(self.health_port, self.app_port)
        self.probe = Probe(self.app_port)

    # -------------------------------------------------------------- helpers
    def penv(self):
        e = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("ELT_")}
        e.update(
            DOCKER_HOST=self.docker_host,
            XDG_CONFIG_HOME="/nonexistent-elt-soak-config",
            XDG_STATE_HOME=os.path.join(self.state, "xdg-state"),
            GH_TOKEN=FAKE_TOKEN,
            GITHUB_TOKEN=FAKE_TOKEN,
        )
        return e

    def console(self, *a, timeout=120):
        cmd = [self.bin, "--config", os.path.join(self.proj, "config.toml"), *a]
        try:
            p = subprocess.run(cmd, cwd=self.proj, env=self.penv(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise Violation(f"`{' '.join(a)}` did not exit within {timeout}s") from e
        return p.returncode, p.stdout, p.stderr

    def docker(self, *a, check=False, timeout=60):
        p = subprocess.run(
            ["docker", *a], env={**os.environ, "DOCKER_HOST": self.docker_host},
            capture_output=True, text=True, timeout=timeout,
        )
        if check and p.returncode != 0:
            raise RuntimeError(f"docker {' '.join(a)}: {p.stderr.strip()}")
        return p.stdout

    def compose(self, *a, timeout=120):
        return subprocess.run(
            ["docker-compose", "-p", self.project, "-f", os.path.join(self.proj, "docker-compose.yml"), *a],
            cwd=self.proj, env=self.penv(), capture_output=True, text=True, timeout=timeout,
        )

    def soak_sh(self, what):
        subprocess.run([os.path.join(self.root, "scripts", "soak.sh"), what], check=True, capture_output=True, timeout=90)

    def engine_up(self):
        return subprocess.run(["docker", "info"], env={**os.environ, "DOCKER_HOST": self.docker_host},
                              capture_output=True, timeout=20).returncode == 0

    # -------------------------------------------------------------- setup
    def setup(self):
        os.makedirs(self.proj, exist_ok=True)
        with open(os.path.join(self.proj, "docker-compose.yml"), "w") as f:
            f.write(f"""version: "3.8"
services:
  app:
    image: ${{IMAGE_TAG}}
    network_mode: host
    restart: unless-stopped
    stop_grace_period: 2s
    environment:
      STUB_PORT: "{self.app_port}"
      STUB_READY_AFTER: "3"
    healthcheck:
      test: ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:{self.app_port}/api/health"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 5s
    volumes:
      - data:/data
  migrate:
    image: ${{IMAGE_TAG}}
    network_mode: host
    command: ["migrate"]
    profiles: ["migrate"]
    volumes:
      - data:/data
volumes:
  data:
""")
        with open(os.path.join(self.proj, "gh-token"), "w") as f:
            f.write(FAKE_TOKEN + "\n")
        os.chmod(os.path.join(self.proj, "gh-token"), 0o600)
        with open(os.path.join(self.proj, "config.toml"), "w") as f:
            f.write(f"""[deployment]
project = "{self.project}"
compose_file = "{self.proj}/docker-compose.yml"
env_file = "{self.proj}/.env"
state_dir = "{self.store_dir}"

[[deployment.services]]
name = "app"
image = "{self.repo}"
image_var = "IMAGE_TAG"
commit_tags = ["main-{{sha}}"]
migrate_service = "migrate"

[docker]
host = "{self.docker_host}"

[registry]
plain_http = ["127.0.0.1:{self.proxy_port}"]
request_timeout_ms = 3000

[github]
api_url = "http://127.0.0.1:9"
token_file = "{self.proj}/gh-token"

[[health]]
name = "app"
url = "http://127.0.0.1:{self.health_port}/api/health"
timeout_ms = 1000

[deploy]
health_timeout_s = 10
health_interval_ms = 250
health_successes = 2
pull_attempts = 2
keep_images = 3
compose_command = "docker-compose"
""")
        os.makedirs(self.store_dir, exist_ok=True)
        # Start from v1, pulled through the proxy like any deploy would.
        self.docker("pull", "-q", f"{self.repo}:{self.tags[1]}", check=True)
        self.write_env(f"{self.repo}:{self.tags[1]}")
        self.compose("down", "-v", "--remove-orphans", "-t", "1")
        r = self.compose("up", "-d", "app")
        if r.returncode != 0:
            raise RuntimeError(f"compose up: {r.stderr}")
        if not self.probe.ok_now(60):
            raise RuntimeError("the soak app did not become healthy")

    def write_env(self, image):
        with open(os.path.join(self.proj, ".env"), "w") as f:
            f.write(f"# the operator's own settings\nCOMPOSE_HTTP_TIMEOUT=120\nIMAGE_TAG={image}\n")

    # -------------------------------------------------------------- state
    def running_image(self):
        ids = self.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}",
                          "--filter", "label=com.docker.compose.service=app",
                          "--filter", "label=com.docker.compose.oneoff=False").split()
        if len(ids) != 1:
            return None
        return self.docker("inspect", "-f", "{{.Config.Image}}", ids[0]).strip()

    def drop_unused_target(self, tag):
        """Make the deploy pull for real: remove the target's local names unless a container uses it."""
        ref = f"{self.repo}:{tag}"
        img = self.docker("image", "inspect", "-f", "{{.Id}}", ref).strip()
        if not img:
            return
        users = self.docker("ps", "-aq", "--filter", f"ancestor={img}").split()
        if users:
            return
        # Only this project's own images on the soak's own engine.
        self.docker("rmi", img)

    # -------------------------------------------------------------- a cycle
    def cycle(self, n, seed):
        rnd = random.Random(seed)
        # In turn: a kind whose fault was not reached (the deploy ended first) comes again, so
        # every kind gets its share of faults that really happened.
        kind = self.kinds[self.turn % len(self.kinds)] if self.args.round_robin else rnd.choice(self.kinds)
        step = rnd.choice(self.args.steps.split(",") if self.args.steps else FAULTS[kind])
        delay = rnd.uniform(0, 1.5) if self.args.delay is None else self.args.delay
        duration = rnd.uniform(1.0, 6.0) if self.args.duration is None else self.args.duration
        running = self.running_image() or ""
        cur_tag = running.rsplit(":", 1)[-1] if running else ""
        roll = rnd.random()
        if self.args.targets:
            roll = {"good": 0.0, "bad": 0.6, "slow": 0.8, "already-running": 0.9}[
                rnd.choice(self.args.targets.split(","))]
        if roll < 0.5:
            target = rnd.choice([t for v, t in self.tags.items() if self.behaviour[v] == "good" and t != cur_tag] or [self.tags[1]])
            tkind = "good"
        elif roll < 0.7:
            target, tkind = self.tags[3], "bad"
        elif roll < 0.85:
            target, tkind = self.tags[4], "slow"
        else:
            target, tkind = (cur_tag or self.tags[2]), "already-running"
        verb = "rollback" if (tkind == "good" and rnd.random() < 0.25) else "deploy"
        if self.args.verbs:
            verb = rnd.choice(self.args.verbs.split(","))
        if tkind != "already-running":
            self.drop_unused_target(target)
        tag = f"cycle {n} seed {seed}: {verb} {tkind} {target[:12]} fault {kind} at {step}+{delay:.1f}s"
        print(tag, flush=True)
        self.cur_kind = kind
        clog = os.path.join(self.logs, f"cycle-{n:05d}")
        os.makedirs(clog, exist_ok=True)
        t_start = now()
        out = open(os.path.join(clog, "deploy.out"), "w")
        err = open(os.path.join(clog, "deploy.err"), "w")
        cmd = [self.bin, "--config", os.path.join(self.proj, "config.toml"), verb, target, "--yes", "--json"]
        p = subprocess.Popen(cmd, cwd=self.proj, env=self.penv(), stdout=subprocess.PIPE, stderr=err,
                             text=True, start_new_session=True)
        events, fired, missed = [], threading.Event(), threading.Event()
        injector = []
        t_fault = [None]
        extra = []  # racing processes
        heal = []  # callables that undo the fault

        def inject():
            time.sleep(delay)
            t_fault[0] = now()
            if self.inject(kind, p, duration, extra, heal, clog, rnd) is False:
                missed.set()

        def reader():
            for line in p.stdout:
                out.write(line)
                out.flush()
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                events.append(ev)
                if ev.get("event") == "step" and ev.get("name") == step and not fired.is_set():
                    fired.set()
                    it = threading.Thread(target=inject, daemon=True)
                    injector.append(it)
                    it.start()

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        try:
            rc = p.wait(timeout=self.args.deploy_timeout)
        except subprocess.TimeoutExpired:
            rc = None
        # Wait for the injector to finish its work (it may still be holding a fault).
        rt.join(10)
        for it in injector:
            it.join(90)
        for h in heal:
            h()
        rt.join(5)
        out.close()
        err.close()
        for q in extra:
            try:
                q.wait(timeout=self.args.deploy_timeout)
            except subprocess.TimeoutExpired:
                rc = None
        if rc is None:
            self.dump(n, seed, clog, "the deploy (or a racing command) did not exit within "
                      f"{self.args.deploy_timeout}s")
            os.killpg(p.pid, signal.SIGKILL)
            raise Violation(f"cycle {n} seed {seed}: hung deploy ({kind} at {step})")
        # Children of a killed deploy (compose) may outlive it: wait for the whole group.
        self.wait_group_gone(p.pid, 60)
        if missed.is_set():
            fired.clear()
        if not fired.is_set():
            self.stats["missed"][kind] = self.stats["missed"].get(kind, 0) + 1
        else:
            self.stats["faults"][kind] = self.stats["faults"].get(kind, 0) + 1
            self.turn += 1
        t_end = now()
        with open(os.path.join(clog, "meta.json"), "w") as f:
            json.dump({"cycle": n, "seed": seed, "verb": verb, "target_kind": tkind, "target": target,
                       "fault": kind, "step": step, "delay": delay, "fired": fired.is_set(), "rc": rc}, f)
        found = len(self.stats["violations"]) + len(self.stats.get("known", []))
        self.check(n, seed, clog, kind, fired.is_set(), t_start, t_end, t_fault[0], events, rc, p.pid)
        found = len(self.stats["violations"]) + len(self.stats.get("known", [])) > found
        # Recovery: an operator's next deploy of a good version when the app is down, or after
        # a violation (so one finding is not counted again by every cycle after it).
        if found or not self.probe.ok_now(20):
            rc2, o2, e2 = self.console("deploy", self.tags[2], "--yes", "--json", "--force", timeout=180)
            with open(os.path.join(clog, "recover.out"), "w") as f:
                f.write(o2 + e2)
            if not self.probe.ok_now(30):
                self.dump(n, seed, clog, "the app did not come back after a recovery deploy")
                raise Violation(f"cycle {n} seed {seed}: no recovery after {kind}")
            self.check(n, seed, clog, "recovery", False, t_end, now(), None, [], rc2, None)
        if t_fault[0] is not None:
            outs = self.probe.outages(t_fault[0], now())
            rec = (outs[-1][1] - t_fault[0]) if outs else 0.0
            self.stats["recover"].setdefault(kind, []).append(rec)
        for a, b in self.probe.outages(t_start, now()):
            self.stats["outages"].append((b - a, n, kind))
        self.stats["cycles"] += 1

    def wait_group_gone(self, pgid, timeout):
        deadline = now() + timeout
        while now() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    # -------------------------------------------------------------- faults
    def inject(self, kind, p, duration, extra, heal, clog, rnd):
        def later(fn):
            heal.append(fn)

        if kind in ("kill9", "kill9-group", "sighup", "sigterm", "sigint"):
            sig = {"kill9": signal.SIGKILL, "kill9-group": signal.SIGKILL, "sighup": signal.SIGHUP,
                   "sigterm": signal.SIGTERM, "sigint": signal.SIGINT}[kind]
            if p.poll() is not None:
                return False
            try:
                (os.killpg if kind == "kill9-group" else os.kill)(p.pid, sig)
            except ProcessLookupError:
                return False
        elif kind == "dockerd-restart":
            pid = int(open(os.path.join(self.env["ELT_SOAK_RUN"], "dockerd.pid")).read().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = now() + 30
            while now() < deadline and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            time.sleep(min(duration, 3))
            self.soak_sh("start-engine")
        elif kind == "registry-stop":
            pidf = os.path.join(self.state, "registry.pid")
            os.kill(int(open(pidf).read().strip()), signal.SIGKILL)
            time.sleep(duration)
            self.soak_sh("start-registry")
        elif kind in ("registry-500", "registry-429", "registry-slow"):
            self.reg_proxy.mode = kind.split("-")[1]
            time.sleep(duration)
            self.reg_proxy.mode = "pass"
        elif kind in ("health-hang", "health-flap", "health-big"):
            self.health_proxy.mode = kind.split("-")[1]
            time.sleep(duration * 2)
            self.health_proxy.mode = "pass"
        elif kind in ("race-deploy", "race-watch", "race-release"):
            args = {
                "race-deploy": ["deploy", self.tags[1], "--yes", "--json"],
                "race-watch": ["watch", "--once", "--json"],
                "race-release": ["lock", "release", "--force"],
            }[kind]
            o = open(os.path.join(clog, f"{kind}.out"), "w")
            extra.append(subprocess.Popen([self.bin, "--config", os.path.join(self.proj, "config.toml"), *args],
                                          cwd=self.proj, env=self.penv(), stdout=o, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        elif kind == "disk-full":
            # Only ever the soak's own small tmpfs, and never more than 64 MiB: /run may be on
            # the machine's root disk when the tmpfs is not mounted.
            if not os.path.ismount(self.tmpfs):
                raise RuntimeError(f"{self.tmpfs} is not the soak's tmpfs (scripts/soak.sh up mounts it)")
            filler = os.path.join(self.tmpfs, "filler")
            try:
                with open(filler, "wb") as f:
                    for _ in range(64):
                        f.write(b"\0" * (1 << 20))
                        f.flush()
            except OSError:
                pass
            time.sleep(duration)
            os.unlink(filler)
        elif kind == "sqlite-lock":
            db = self.store_file()
            if db:
                c = sqlite3.connect(db, timeout=1, isolation_level=None)
                try:
                    c.execute("BEGIN EXCLUSIVE")
                    time.sleep(duration)
                    c.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                finally:
                    c.close()

    def store_file(self):
        for name in sorted(os.listdir(self.store_dir)):
            if name.endswith((".db", ".sqlite", ".sqlite3")):
                return os.path.join(self.store_dir, name)
        return None

    # -------------------------------------------------------------- invariants
    def dump(self, n, seed, clog, why):
        with open(os.path.join(clog, "VIOLATION.txt"), "w") as f:
            f.write(f"cycle {n} seed {seed}: {why}\n")
            for a in (["status", "--json"], ["lock", "status", "--json"], ["history", "--json", "-n", "10"]):
                try:
                    rc, o, e = self.console(*a, timeout=60)
                except Violation as v:
                    rc, o, e = "-", "", str(v)
                f.write(f"\n$ elt-console {' '.join(a)}  (exit {rc})\n{o}{e}")
            f.write("\n$ docker ps -a\n" + self.docker("ps", "-a"))
            f.write("\n$ cat .env\n" + open(os.path.join(self.proj, ".env")).read())

    def fail(self, n, seed, clog, why, key):
        self.dump(n, seed, clog, why)
        kind = self.cur_kind
        if f"{kind}:{key}" in self.allow:
            # A known finding (reported to be fixed in the engine): counted, printed, not fatal.
            self.stats.setdefault("known", []).append(f"cycle {n} seed {seed} [{kind}:{key}]: {why}")
            print(f"KNOWN cycle {n} seed {seed} [{kind}:{key}]: {why}", flush=True)
            return
        self.stats["violations"].append(f"cycle {n} seed {seed} [{kind}:{key}]: {why}")
        print(f"VIOLATION cycle {n} seed {seed}: {why} (dump: {clog}/VIOLATION.txt)", flush=True)
        if self.args.stop_on_violation:
            raise Violation(why)

    def check(self, n, seed, clog, kind, fired, t0, t1, t_fault, events, rc, deploy_pid):
        if not self.engine_up():
            self.soak_sh("start-engine")
        # Lock: free, held by a live process, or stale naming a dead holder (then released).
        rc_l, o, e = self.console("lock", "status", "--json")
        try:
            lk = json.loads(o)["lock"]
        except (ValueError, KeyError):
            return self.fail(n, seed, clog, f"lock status --json unreadable (exit {rc_l}): {e.strip()[:300]}", key="unreadable")
        if lk.get("state") == "held":
            pid = lk["holder"]["actor"]["pid"]
            if not os.path.exists(f"/proc/{pid}"):
                self.fail(n, seed, clog, f"lock reported held by pid {pid}, which is dead", key="lock-held-dead")
        elif lk.get("state") == "stale":
            pid = lk["holder"]["actor"]["pid"]
            if pid == deploy_pid and rc is not None and rc >= 0:
                # It exited by itself (not killed): it should have released its own lock.
                self.fail(n, seed, clog, f"the deploy (pid {pid}) exited {rc} but left its lock behind "
                                         f"({lk.get('reason')})", key="lock-left")
            if os.path.exists(f"/proc/{pid}") and "elt-console" in open(f"/proc/{pid}/cmdline", "rb").read().decode(
                    "latin-1"):
                self.fail(n, seed, clog, f"lock reported stale ({lk.get('reason')}) but its holder pid {pid} lives", key="lock-stale-live")
            rc_r, o, e = self.console("lock", "release", "--force")
            rc_l, o, e = self.console("lock", "status", "--json")
            if rc_r != 0 or json.loads(o)["lock"].get("state") != "free":
                self.fail(n, seed, clog, f"stale lock not freed by `lock release --force` (exit {rc_r})", key="lock-not-freed")
        # Rows: terminal or interrupted.
        rc_h, o, e = self.console("history", "--json", "-n", "50")
        try:
            rows = json.loads(o)
            if isinstance(rows, dict):
                rows = rows.get("deployments", [])
        except ValueError:
            return self.fail(n, seed, clog, f"history --json unreadable (exit {rc_h}): {e.strip()[:300]}", key="unreadable")
        for r in rows:
            if r.get("status") not in TERMINAL:
                self.fail(n, seed, clog, f"deployment #{r.get('id')} left '{r.get('status')}' after the cycle", key="row-not-terminal")
        # What the deploy said at its end is what the store keeps (a force release by the race
        # may mark a live deploy interrupted, so that race is left out).
        fin = [ev for ev in events if ev.get("event") == "finished" and ev.get("deployment_id")]
        if fin and kind != "race-release":
            said = fin[-1]
            row = next((r for r in rows if r.get("id") == said["deployment_id"]), None)
            if row is not None and row.get("status") != said.get("status"):
                self.fail(n, seed, clog, f"deployment #{row['id']}: the deploy said '{said.get('status')}', "
                                         f"the store says '{row.get('status')}' ({row.get('error')})",
                          key="history-lies")
        # Serving, or a loud failure.
        serving = self.probe.ok_now(25)
        if not serving:
            rc_s, o, e = self.console("status", "--json")
            last = rows[0] if rows else {}
            if rc_s != 1 or last.get("status") not in ("failed-down", "interrupted") or not last.get("error"):
                self.fail(n, seed, clog, f"app down but status exit {rc_s}, last deployment "
                                         f"#{last.get('id')} '{last.get('status')}' error {last.get('error')!r}", key="silent-outage")
        # .env: complete, and its pin is what runs.
        text = open(os.path.join(self.proj, ".env")).read()
        pins = [l for l in text.splitlines() if l.startswith("IMAGE_TAG=")]
        if not text.endswith("\n") or "COMPOSE_HTTP_TIMEOUT=120" not in text or len(pins) != 1:
            self.fail(n, seed, clog, f".env partial or damaged: {text!r}", key="env-partial")
        elif serving:
            img = self.running_image()
            if img and pins[0].split("=", 1)[1] != img:
                self.fail(n, seed, clog, f".env pins {pins[0]} but the app runs {img}", key="env-pin")
        # Orphans: at most one long-running app container.
        apps = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
                           "--filter", "label=com.docker.compose.service=app",
                           "--filter", "label=com.docker.compose.oneoff=False").split()
        if len(apps) > 1:
            self.fail(n, seed, clog, f"{len(apps)} app containers (orphans): {apps}", key="orphans")
        # Images: what the last successful deployment replaced must still be there for a rollback.
        for r in rows[:1]:
            if r.get("status") == "succeeded" and r.get("from", {}).get("image_id"):
                iid = r["from"]["image_id"]
                if not self.docker("image", "inspect", "-f", "{{.Id}}", iid).strip():
                    self.fail(n, seed, clog, f"image {iid} (deployment #{r['id']}'s rollback) was pruned", key="image-pruned")
        # Downtime vs the probe, for clean deploys of this cycle.
        if kind in ("race-watch", "race-release", "sqlite-lock", "registry-500", "registry-429",
                    "registry-slow", "registry-stop", "recovery") or not fired:
            fin = [ev for ev in events if ev.get("event") == "finished"]
            if fin and rows and rows[0].get("status") == "succeeded" and rows[0].get("downtime_ms") is not None:
                outs = self.probe.outages(t0, t1)
                probe_ms = max(((b - a) * 1000 for a, b in outs), default=0)
                rec = rows[0]["downtime_ms"]
                tol = 250 * 2 + Probe.INTERVAL * 1000 + self.args.downtime_slack_ms
                self.stats.setdefault("downtime_pairs", []).append((rec, probe_ms))
                if abs(rec - probe_ms) > tol:
                    self.fail(n, seed, clog, f"recorded downtime {rec} ms vs probe outage {probe_ms:.0f} ms "
                                             f"(tolerance {tol:.0f} ms)", key="downtime")
        # Secrets: nowhere in output, logs or the store.
        for base in (clog, os.path.join(self.state, "xdg-state"), self.store_dir):
            for dirpath, _, files in os.walk(base):
                for fn in files:
                    path = os.path.join(dirpath, fn)
                    try:
                        if FAKE_TOKEN.encode() in open(path, "rb").read():
                            self.fail(n, seed, clog, f"the planted token is in {path}", key="secret")
                    except OSError:
                        pass

    # -------------------------------------------------------------- run
    def run(self):
        self.kinds = self.args.kinds.split(",") if self.args.kinds else list(FAULTS)
        self.allow = set(self.args.allow.split(",")) if self.args.allow else set()
        self.cur_kind = "setup"
        self.turn = self.args.first_cycle
        self.setup()
        base = self.args.seed if self.args.seed is not None else random.randrange(1 << 30)
        print(f"soak: base seed {base} ({self.args.cycles} cycles from {self.args.first_cycle})", flush=True)
        t0 = now()
        for i in range(self.args.first_cycle, self.args.first_cycle + self.args.cycles):
            seed = base + i
            try:
                self.cycle(i, seed)
            except Violation as v:
                self.stats["violations"].append(str(v))
                print(f"VIOLATION {v}", flush=True)
                break
            if self.args.until_each and all(self.stats["faults"].get(k, 0) >= self.args.until_each
                                            for k in self.kinds):
                print(f"soak: every fault kind injected {self.args.until_each} times", flush=True)
                break
            if self.args.max_minutes and now() - t0 > self.args.max_minutes * 60:
                print("soak: time budget spent", flush=True)
                break
        self.report(now() - t0, base)
        return 1 if self.stats["violations"] else 0

    def report(self, elapsed, base):
        s = self.stats
        lines = [f"soak: {s['cycles']} cycles in {elapsed / 60:.1f} min, base seed {base}"]
        lines.append(f"violations: {len(s['violations'])}")
        if s.get("known"):
            lines.append(f"known findings (--allow): {len(s['known'])}")
            for v in s["known"]:
                lines.append(f"  {v}")
        for v in s["violations"]:
            lines.append(f"  {v}")
        lines.append("fault kind         injected  not-reached  recover-median-s  recover-max-s")
        for k in FAULTS:
            rec = s["recover"].get(k, [])
            lines.append(f"{k:<18} {s['faults'].get(k, 0):>8}  {s['missed'].get(k, 0):>11}  "
                         f"{(statistics.median(rec) if rec else 0):>16.1f}  {(max(rec) if rec else 0):>13.1f}")
        if s["outages"]:
            longest = max(s["outages"])
            lines.append(f"longest outage: {longest[0]:.1f} s (cycle {longest[1]}, {longest[2]})")
        pairs = s.get("downtime_pairs", [])
        if pairs:
            worst = max(abs(a - b) for a, b in pairs)
            lines.append(f"downtime recorded vs probe: {len(pairs)} deploys compared, worst gap {worst:.0f} ms")
        print("\n".join(lines), flush=True)
        if self.args.report:
            with open(self.args.report, "w") as f:
                json.dump({**s, "elapsed_s": elapsed, "base_seed": base}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", required=True)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--first-cycle", type=int, default=0)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--kinds", help="comma-separated fault kinds (default: all)")
    ap.add_argument("--steps", help="comma-separated steps to inject at (default: the kind's own)")
    ap.add_argument("--delay", type=float, help="seconds after the step starts (default: random 0-1.5)")
    ap.add_argument("--duration", type=float, help="how long a timed fault lasts (default: random 1-6)")
    ap.add_argument("--targets", help="comma-separated target kinds: good,bad,slow,already-running")
    ap.add_argument("--verbs", help="comma-separated: deploy,rollback (default: a quarter of the good "
                    "targets are rollbacks)")
    ap.add_argument("--round-robin", action="store_true", help="fault kinds in turn, not at random (a kind "
                    "whose fault was not reached comes again; replay from --first-cycle 0)")
    ap.add_argument("--until-each", type=int, help="stop once every fault kind was injected this often")
    ap.add_argument("--bin")
    ap.add_argument("--log-dir")
    ap.add_argument("--report")
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--deploy-timeout", type=float, default=180)
    ap.add_argument("--downtime-slack-ms", type=float, default=1000)
    ap.add_argument("--allow", help="comma-separated FAULT:INVARIANT pairs of known findings, reported "
                    "as KNOWN instead of failing (each names an open engine bug)")
    ap.add_argument("--stop-on-violation", action="store_true")
    ap.add_argument("--registry-proxy-port", type=int, default=5056)
    ap.add_argument("--app-port", type=int, default=18931)
    ap.add_argument("--health-proxy-port", type=int, default=18932)
    a = ap.parse_args()
    env = {}
    for line in open(a.env):
        if "=" in line and not line.startswith("#"):
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = v
    sys.exit(Soak(a, env).run())


if __name__ == "__main__":
    main()

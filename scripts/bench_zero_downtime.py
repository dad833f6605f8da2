#!/usr/bin/env python3
"""Zero-downtime benchmark (run by `scripts/bench-deploy.sh zero-downtime`).

A compose project of the stub app made slow to start (STUB_BEHAVIOUR=slow, STUB_READY_AFTER
seconds of 503 "starting" after each start, like the ELT app loading its TTS model), behind a
real nginx on loopback. For ROUNDS rounds, side by side in one run:
  * elt-console deploy v2 then rollback v1 with strategy start-first;
  * the same with strategy stop-first (the proxy follows the recreated container);
  * the shell procedure operators use today (pull, pin .env, compose down, up -d, sleep 30,
    curl), on a twin project publishing a fixed port, probed directly.
A probe requests /api/health PROBE_HZ times a second through the proxy (directly for the shell
procedure) during each, and counts failed requests and the longest outage. Prints figures;
nothing here is a pass/fail test.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import Probe, testenv, wait_ok

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".sandbox" / "bench-zd"
BIN = ROOT / "target" / "release" / "elt-console"
ROUNDS = int(os.environ.get("ROUNDS", "2"))
PROBE_HZ = int(os.environ.get("PROBE_HZ", "50"))
READY_AFTER = int(os.environ.get("READY_AFTER", "20"))
SCRIPT_SLEEP = int(os.environ.get("SCRIPT_SLEEP", "30"))
DRAIN_S = int(os.environ.get("DRAIN_S", "5"))
MONITOR_S = int(os.environ.get("MONITOR_S", "10"))
PROXY_PORT = int(os.environ.get("PROXY_PORT", "18380"))
SHELL_PORT = int(os.environ.get("SHELL_PORT", "18381"))
PROJECT = "elt-bench-zd"
SHELL_PROJECT = "elt-bench-zd-shell"
NGINX = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "nginx"



ENV = testenv()
COMPOSE = (ENV.get("ELT_TEST_COMPOSE_V1") or ENV["ELT_TEST_COMPOSE"]).split()
IMAGE = ENV["ELT_TEST_IMAGE"]
V1, V2 = ENV["ELT_TEST_TAG_V1"], ENV["ELT_TEST_TAG_V2"]



def compose(project, *args, env=None, check=True):
    return subprocess.run([*COMPOSE, "-p", project, "-f", "docker-compose.yml", *args],
                          cwd=WORK / project, capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})})


def write_project(project, publish):
    d = WORK / project
    d.mkdir(parents=True, exist_ok=True)
    (d / "docker-compose.yml").write_text(f"""version: "3.8"
services:
  app:
    image: ${{IMAGE_TAG}}
    ports:
      - "{publish}"
    environment:
      STUB_BEHAVIOUR: slow
      STUB_READY_AFTER: "{READY_AFTER}"
    volumes:
      - data:/data
volumes:
  data:
""")
    (d / ".env").write_text(f"IMAGE_TAG={IMAGE}:{V1}\n")


def app_addr(project):
    cid = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                          "--filter", "label=com.docker.compose.service=app"],
                         capture_output=True, text=True, check=True).stdout.split()[0]
    return subprocess.run(["docker", "port", cid, "3000/tcp"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0].strip()


def start_nginx():
    n = WORK / "nginx"
    (n / "logs").mkdir(parents=True, exist_ok=True)
    (n / "upstream.conf").write_text(f"upstream elt_app {{\n    server {app_addr(PROJECT)};\n}}\n")
    (n / "nginx.conf").write_text(f"""pid {n}/nginx.pid;
error_log {n}/logs/error.log warn;
worker_processes 1;
events {{ worker_connections 512; }}
http {{
  access_log off;
  include {n}/upstream.conf;
  server {{ listen 127.0.0.1:{PROXY_PORT}; location / {{ proxy_pass http://elt_app; }} }}
}}
""")
    return subprocess.Popen([NGINX, "-p", str(n), "-c", str(n / "nginx.conf"), "-g", "daemon off;"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_config():
    d = WORK / PROJECT
    n = WORK / "nginx"
    (d / "config.toml").write_text(f"""[deployment]
project = "{PROJECT}"
compose_file = "{d}/docker-compose.yml"
env_file = "{d}/.env"
state_dir = "{d}/state"

[[deployment.services]]
name = "app"
image = "{IMAGE}"
image_var = "IMAGE_TAG"
commit_tags = ["main-{{sha}}"]
migrate_service = ""

[registry]
plain_http = ["{IMAGE.split('/')[0]}"]

[[health]]
name = "app"
url = "http://127.0.0.1:{PROXY_PORT}/api/health"
timeout_ms = 1000

[deploy]
health_timeout_s = 180
health_interval_ms = 500
health_successes = 2
compose_command = "{' '.join(COMPOSE)}"
drain_s = {DRAIN_S}
monitor_s = {MONITOR_S}

[proxy]
kind = "nginx"
service = "app"
port = 3000
upstream_file = "{n}/upstream.conf"
upstream_name = "elt_app"
nginx_command = "{NGINX} -p {n} -c {n}/nginx.conf"

[github]
api_url = "http://127.0.0.1:9"
""")


def console(strategy, *args):
    probe = Probe(f"http://127.0.0.1:{PROXY_PORT}/api/health", PROBE_HZ, 2)
    probe.start()
    t0 = time.monotonic()
    p = subprocess.run([str(BIN), "--config", str(WORK / PROJECT / "config.toml"), *args, "--yes", "--json"],
                       capture_output=True, text=True, cwd=WORK / PROJECT,
                       env={**os.environ, "ELT_DEPLOY_STRATEGY": strategy})
    wall = time.monotonic() - t0
    time.sleep(1)
    stats = probe.finish()
    events = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    done = next((e for e in reversed(events) if e["event"] == "finished"), None)
    if p.returncode != 0 or not done or done["status"] != "succeeded":
        sys.exit(f"console {' '.join(args)} ({strategy}) failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    m = re.search(r"removed ([0-9.]+) (ms|s) after", done["message"])
    old_gone = (float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)) if m else None
    return wall, done["downtime_ms"] / 1000, stats, old_gone


def shell_procedure(tag):
    image = f"{IMAGE}:{tag}"
    url = f"http://127.0.0.1:{SHELL_PORT}/api/health"
    c = " ".join(COMPOSE) + f" -p {SHELL_PROJECT} -f docker-compose.yml"
    script = f"""
set -e
cd {WORK / SHELL_PROJECT}
docker pull -q {image} >/dev/null
sed -i 's|^IMAGE_TAG=.*|IMAGE_TAG={image}|' .env
{c} down >/dev/null 2>&1
{c} up -d >/dev/null 2>&1
sleep {SCRIPT_SLEEP}
curl -fsS -m 5 {url} >/dev/null
"""
    probe = Probe(url, PROBE_HZ, 2)
    probe.start()
    t0 = time.monotonic()
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    wall = time.monotonic() - t0
    time.sleep(1)
    stats = probe.finish()
    if p.returncode != 0:
        print(f"  (the shell procedure's curl failed after sleep {SCRIPT_SLEEP}: the app was not ready)")
    return wall, stats


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main():
    for tag in (V1, V2):
        subprocess.run(["docker", "pull", "-q", f"{IMAGE}:{tag}"], check=True, capture_output=True)
    write_project(PROJECT, "127.0.0.1::3000")
    write_project(SHELL_PROJECT, f"127.0.0.1:{SHELL_PORT}:3000")
    for p in (PROJECT, SHELL_PROJECT):
        compose(p, "down", "-v", "--remove-orphans", check=False)
        compose(p, "up", "-d", "app")
    nginx = start_nginx()
    try:
        wait_ok(f"http://127.0.0.1:{PROXY_PORT}/api/health")
        wait_ok(f"http://127.0.0.1:{SHELL_PORT}/api/health")
        write_config()
        rows = {}
        for r in range(ROUNDS):
            for strategy in ("start-first", "stop-first"):
                for verb, tag in (("deploy", V2), ("rollback", V1)):
                    wall, downtime, stats, old_gone = console(strategy, verb, tag)
                    rows.setdefault(f"{verb} {strategy}", []).append((wall, stats, downtime, old_gone))
                    print(f"round {r + 1}: {verb} {strategy}: wall {wall:.1f} s, engine downtime {downtime:.2f} s, "
                          f"probe failed {stats['failed']}/{stats['requests']}, outage {stats['outage_s']:.2f} s"
                          + (f", healthy -> old removed {old_gone:.1f} s" if old_gone is not None else ""),
                          flush=True)
            wall, stats = shell_procedure(V2)
            rows.setdefault("shell procedure", []).append((wall, stats, None, None))
            print(f"round {r + 1}: shell procedure: wall {wall:.1f} s, probe failed "
                  f"{stats['failed']}/{stats['requests']}, outage {stats['outage_s']:.2f} s", flush=True)
            subprocess.run([*COMPOSE, "-p", SHELL_PROJECT, "-f", "docker-compose.yml", "down"],
                           cwd=WORK / SHELL_PROJECT, capture_output=True)
            (WORK / SHELL_PROJECT / ".env").write_text(f"IMAGE_TAG={IMAGE}:{V1}\n")
            compose(SHELL_PROJECT, "up", "-d", "app")
            wait_ok(f"http://127.0.0.1:{SHELL_PORT}/api/health")
        print()
        print(f"medians over {ROUNDS} rounds (app ready {READY_AFTER} s after each start; probe {PROBE_HZ} req/s; "
              f"drain_s {DRAIN_S}, monitor_s {MONITOR_S}):")
        for name, rs in rows.items():
            print(f"  {name:<22} wall {med([x[0] for x in rs]):6.1f} s  failed {med([x[1]['failed'] for x in rs]):6.1f} "
                  f"of {med([x[1]['requests'] for x in rs]):6.0f}  outage {med([x[1]['outage_s'] for x in rs]):5.2f} s"
                  + (f"  engine downtime {med([x[2] for x in rs]):5.2f} s" if rs[0][2] is not None else "")
                  + (f"  healthy -> old removed {med([x[3] for x in rs]):5.1f} s" if rs[0][3] is not None else ""))
        total = {k: sum(x[1]['failed'] for x in v) for k, v in rows.items()}
        print("  failed requests in all rounds: " + ", ".join(f"{k} {v}" for k, v in total.items()))
    finally:
        nginx.terminate()
        nginx.wait(10)
        for p in (PROJECT, SHELL_PROJECT):
            compose(p, "down", "-v", "--remove-orphans", check=False)


if __name__ == "__main__":
    main()

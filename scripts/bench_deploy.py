#!/usr/bin/env python3
"""Deploy benchmark against the sandbox (run by scripts/bench-deploy.sh).

For ROUNDS rounds, between two images already cached on the host (sandbox v1 and v2):
  * `elt-console deploy v2`, then `elt-console rollback v1` (a retained tag);
  * the shell-script procedure operators use today: docker pull, pin .env, compose down,
    compose up -d, sleep 30, curl the health URL.
A probe loop requests the app's health URL PROBE_HZ times a second during each and counts the
failed requests and the longest outage. App-ready time is measured per run as the time from
the new container's start (the engine's StartedAt) to the first OK probe after it.
Prints medians; nothing here is a pass/fail test.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench_common import Probe, testenv, wait_ok

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = ROOT / ".sandbox"
CONFIG = SANDBOX / "config.toml"
DEPLOY = SANDBOX / "deploy"
BIN = ROOT / "target" / "release" / "elt-console"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PROBE_HZ = int(os.environ.get("PROBE_HZ", "20"))
SCRIPT_SLEEP = int(os.environ.get("SCRIPT_SLEEP", "30"))
HEALTH_URL = "http://127.0.0.1:3000/api/health"
NGINX = SANDBOX / "run" / "nginx"
NGINX_CMD = (f"{'/usr/sbin/nginx' if Path('/usr/sbin/nginx').exists() else 'nginx'} -p {NGINX} "
             f"-e {NGINX}/logs/error.log -c {NGINX}/nginx.conf")
PROJECT = "elt-sandbox"



ENV = testenv()
COMPOSE = (ENV.get("ELT_TEST_COMPOSE_V1") or ENV["ELT_TEST_COMPOSE"]).split()



def app_started_at():
    cid = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
         "--filter", "label=com.docker.compose.service=app"],
        capture_output=True, text=True, check=True).stdout.split()
    if not cid:
        return None
    s = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", cid[0]],
                       capture_output=True, text=True, check=True).stdout.strip()
    # 2026-12-01T20:31:07.123456789Z -> microseconds for fromisoformat
    main, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{main}.{(frac + '000000')[:6]}+00:00").timestamp()


def wait_healthy(deadline_s=90):
    wait_ok(HEALTH_URL, deadline_s)


def console(*args):
    """Run the console; return (wall seconds, finished event, per-step ms)."""
    probe = Probe(HEALTH_URL, PROBE_HZ, 4.0 / PROBE_HZ)
    probe.start()
    t0 = time.monotonic()
    p = subprocess.run([str(BIN), "--config", str(CONFIG), *args, "--yes", "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - t0
    time.sleep(1)  # let the probe see the steady state after the command returned
    stats = probe.finish()
    events = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    done = next((e for e in reversed(events) if e["event"] == "finished"), None)
    if p.returncode != 0 or not done or done["status"] != "succeeded":
        sys.exit(f"console {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    steps = {e["name"]: e["duration_ms"] for e in events
             if e["event"] == "step" and e["state"] in ("ok", "warning")}
    started = app_started_at()
    ready = (probe.first_ok_after(started) - started) if started else None
    return wall, done, steps, stats, ready


def script_procedure(tag):
    """What the operators' shell script does today, verbatim in spirit."""
    image = f"{ENV['ELT_TEST_IMAGE']}:{tag}"
    compose = " ".join(COMPOSE) + f" -p {PROJECT} -f docker-compose.gpu.yml"
    script = f"""
set -e
cd {DEPLOY}
docker pull -q {image} >/dev/null
sed -i 's|^IMAGE_TAG=.*|IMAGE_TAG={image}|' .env
{compose} down >/dev/null 2>&1
{compose} up -d >/dev/null 2>&1
# The sandbox's app sits behind nginx on a port Docker picks: point nginx at the new one.
addr=$(docker port "$({compose} ps -q app | head -1)" 3000/tcp | head -1)
printf 'upstream elt_app {{\n    server %s;\n}}\n' "$addr" > {NGINX}/upstream.conf
{NGINX_CMD} -s reload
sleep {SCRIPT_SLEEP}
curl -fsS -m 5 {HEALTH_URL} >/dev/null
"""
    probe = Probe(HEALTH_URL, PROBE_HZ, 4.0 / PROBE_HZ)
    probe.start()
    t0 = time.monotonic()
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    wall = time.monotonic() - t0
    time.sleep(1)
    stats = probe.finish()
    if p.returncode != 0:
        sys.exit(f"shell procedure failed: {p.stderr}")
    started = app_started_at()
    ready = (probe.first_ok_after(started) - started) if started else None
    return wall, stats, ready


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main():
    v1, v2 = ENV["ELT_TEST_TAG_V1"], ENV["ELT_TEST_TAG_V2"]
    for tag in (v1, v2):
        subprocess.run(["docker", "pull", "-q", f"{ENV['ELT_TEST_IMAGE']}:{tag}"],
                       check=True, capture_output=True)
    wait_healthy()
    # Start from v1 so every round moves v1 -> v2 -> v1.
    subprocess.run([str(BIN), "--config", str(CONFIG), "deploy", v1, "--yes", "--force"],
                   check=True, capture_output=True, cwd=ROOT)
    rows = {"deploy": [], "rollback": [], "script": []}
    for r in range(ROUNDS):
        wall, done, steps, stats, ready = console("deploy", v2)
        rows["deploy"].append((wall, done["downtime_ms"] / 1000, stats, ready, steps))
        print(f"round {r + 1}: console deploy {wall:.2f} s, engine downtime "
              f"{done['downtime_ms'] / 1000:.2f} s, probe outage {stats['outage_s']:.2f} s, "
              f"failed {stats['failed']}/{stats['requests']}, app ready {ready or float('nan'):.2f} s",
              flush=True)
        wall, done, steps, stats, ready = console("rollback", v1)
        rows["rollback"].append((wall, done["downtime_ms"] / 1000, stats, ready, steps))
        print(f"round {r + 1}: console rollback {wall:.2f} s, engine downtime "
              f"{done['downtime_ms'] / 1000:.2f} s, probe outage {stats['outage_s']:.2f} s, "
              f"failed {stats['failed']}/{stats['requests']}", flush=True)
        wall, stats, ready = script_procedure(v2)
        rows["script"].append((wall, None, stats, ready, {}))
        print(f"round {r + 1}: shell procedure {wall:.2f} s, probe outage "
              f"{stats['outage_s']:.2f} s, failed {stats['failed']}/{stats['requests']}, "
              f"app ready {ready or float('nan'):.2f} s", flush=True)
        # Back to v1 under the console, so the next round starts where this one did.
        subprocess.run([str(BIN), "--config", str(CONFIG), "deploy", v1, "--yes"],
                       check=True, capture_output=True, cwd=ROOT)

    print()
    print(f"medians over {ROUNDS} rounds (probe {PROBE_HZ} req/s on {HEALTH_URL}):")
    for name in ("deploy", "rollback", "script"):
        rs = rows[name]
        label = {"deploy": "elt-console deploy", "rollback": "elt-console rollback (retained tag)",
                 "script": f"shell procedure (sleep {SCRIPT_SLEEP})"}[name]
        line = (f"  {label:<38} wall {med([x[0] for x in rs]):6.2f} s  "
                f"outage {med([x[2]['outage_s'] for x in rs]):5.2f} s  "
                f"failed {med([x[2]['failed'] for x in rs]):5.1f} of {med([x[2]['requests'] for x in rs]):.0f}  "
                f"app ready {med([x[3] for x in rs]):5.2f} s")
        if name != "script":
            line += f"  engine downtime {med([x[1] for x in rs]):5.2f} s"
        print(line)
    for name in ("deploy", "rollback"):
        keys = [k for k in rows[name][0][4]]
        parts = [f"{k} {med([x[4].get(k) for x in rows[name]]):.0f}" for k in keys]
        print(f"  {name} steps (median ms): " + ", ".join(parts))
    d = med([x[0] for x in rows["deploy"]])
    s = med([x[0] for x in rows["script"]])
    print(f"  wall-time ratio shell procedure / elt-console deploy: {s / d:.1f}x")
    ready = med([x[3] for x in rows["deploy"]])
    rb = med([x[0] for x in rows["rollback"]])
    print(f"  target deploy wall <= app ready + 2 s: {d:.2f} vs {ready + 2:.2f} s "
          f"({'met' if d <= ready + 2 else 'missed by %.2f s' % (d - ready - 2)})")
    print(f"  target rollback <= 5 s + app ready: {rb:.2f} vs {ready + 5:.2f} s "
          f"({'met' if rb <= ready + 5 else 'missed by %.2f s' % (rb - ready - 5)})")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Deploy benchmark against the sandbox: elt-console deploy and rollback between two cached
# images vs the shell-script procedure operators use today (pull, compose down, up, sleep 30,
# curl), each under a probe loop of PROBE_HZ health requests a second. Prints medians.
#
#   scripts/bench-deploy.sh                  # ROUNDS=3 PROBE_HZ=20 SCRIPT_SLEEP=30
#   ROUNDS=5 scripts/bench-deploy.sh
#
# `zero-downtime`: start-first vs stop-first vs the shell procedure, side by side, with the app
# slow to start (READY_AFTER=20 s of 503 after each start) behind a real nginx on loopback
# (scripts/bench_zero_downtime.py; its own compose projects, not the sandbox's).
#
#   scripts/bench-deploy.sh zero-downtime    # ROUNDS=2 PROBE_HZ=50 READY_AFTER=20
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  zero-downtime)
    scripts/testenv.sh up >/dev/null
    cargo build --release --quiet
    exec python3 scripts/bench_zero_downtime.py
    ;;
  "") ;;
  *) echo "usage: scripts/bench-deploy.sh [zero-downtime]" >&2; exit 64 ;;
esac
scripts/sandbox.sh --no-run >/dev/null
cargo build --release --quiet
exec python3 scripts/bench_deploy.py

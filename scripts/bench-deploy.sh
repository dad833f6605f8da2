#!/usr/bin/env bash
# Deploy benchmark against the sandbox: elt-console deploy and rollback between two cached
# images vs the shell-script procedure operators use today (pull, compose down, up, sleep 30,
# curl), each under a probe loop of PROBE_HZ health requests a second. Prints medians.
#
#   scripts/bench-deploy.sh                  # ROUNDS=3 PROBE_HZ=20 SCRIPT_SLEEP=30
#   ROUNDS=5 scripts/bench-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/sandbox.sh --no-run >/dev/null
cargo build --release --quiet
exec python3 scripts/bench_deploy.py

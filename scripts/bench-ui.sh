#!/usr/bin/env bash
# Dashboard benchmarks against the sandbox, driven through tmux as an operator's terminal.
# Prints: launch -> first frame; idle CPU and RSS with 5 containers; under a log flood of
# FLOOD_RATE lines/s: CPU, RSS growth, how far the view lags the stream, and key -> frame latency.
#
#   scripts/bench-ui.sh                      # defaults below
#   IDLE_SECONDS=60 FLOOD_SECONDS=600 FLOOD_RATE=20000 REPEATS=3 scripts/bench-ui.sh
#   PHASES=flood FLOOD_SECONDS=120 KEY_SAMPLES=100 scripts/bench-ui.sh   # one phase only
#   PHASES=peer REPEATS=3 PEER_SECONDS=90 scripts/bench-ui.sh   # idle beside oxker (PEER=path)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/sandbox.sh --no-run >/dev/null
cargo build --release --quiet
exec python3 scripts/bench_ui.py

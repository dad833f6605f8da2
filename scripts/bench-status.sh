#!/usr/bin/env bash
# How long one `elt-console status` takes against the sandbox, and its peak memory.
# Usage: scripts/bench-status.sh [RUNS]   (default 20). Prints median, p90 and max.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
# 2 variants x (RUNS + 1 warm-up) GitHub requests must fit in the stand-in's 60/hour.
(( runs <= 28 )) || { echo "at most 28 runs (GitHub budget)" >&2; exit 64; }
scripts/sandbox.sh --no-run >/dev/null
cargo build --release --quiet
bin=target/release/elt-console
# The stand-in enforces GitHub's 60 requests/hour without a token; start each bench with a
# full budget so every run measures the normal path, not the rate-limited one.
curl -fsS -X POST http://127.0.0.1:8787/_standin/reset >/dev/null
python3 - "$bin" "$runs" <<'PY'
import resource, statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
def once(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run([binary, "--config", ".sandbox/config.toml", *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    return wall, p.returncode
rss = []
for label, args in (("status --json", ["status", "--json"]), ("status", ["status"])):
    once(args)  # warm the page cache and the registry's blob cache
    times = []
    codes = set()
    for _ in range(runs):
        ms, code = once(args)
        times.append(ms)
        codes.add(code)
    times.sort()
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    print(f"{label:14} runs={runs} median={statistics.median(times):.0f} ms p90={p90:.0f} ms max={times[-1]:.0f} ms exit={sorted(codes)}")
# ru_maxrss of children is the largest child seen, in KiB on Linux.
print(f"peak RSS of one status run: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MiB")
PY

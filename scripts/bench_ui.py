"""Measurements for scripts/bench-ui.sh. Loopback only; every loop is bounded in time."""
import os, statistics, subprocess, time, datetime, re

BIN = os.path.abspath("target/release/elt-console")
CONFIG = os.path.abspath(".sandbox/config.toml")
DEPLOY = os.path.abspath(".sandbox/deploy")
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "60"))
FLOOD_SECONDS = int(os.environ.get("FLOOD_SECONDS", "600"))
FLOOD_RATE = int(os.environ.get("FLOOD_RATE", "20000"))
REPEATS = int(os.environ.get("REPEATS", "3"))
KEY_SAMPLES = int(os.environ.get("KEY_SAMPLES", "40"))
PEER = os.environ.get("PEER", os.path.expanduser("~/.cargo/bin/oxker"))
PEER_SECONDS = int(os.environ.get("PEER_SECONDS", "90"))
PEER_WARMUP = int(os.environ.get("PEER_WARMUP", "20"))
CLK = os.sysconf("SC_CLK_TCK")
SESSION = "elt-bench"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def reset_github_budget():
    # The stand-in enforces GitHub's 60 requests/hour without a token, like GitHub; each
    # launch spends one, so give every phase a full budget to measure the normal path.
    sh("curl", "-fsS", "-X", "POST", "http://127.0.0.1:8787/_standin/reset")


def tmux_start(width=160, height=45):
    reset_github_budget()
    sh("tmux", "kill-session", "-t", SESSION, check=False)
    sh("tmux", "new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height),
       f"env -u GH_TOKEN -u GITHUB_TOKEN {BIN} --config {CONFIG}; sleep 60")


def screen():
    return sh("tmux", "capture-pane", "-p", "-t", SESSION)


def keys(*ks):
    for k in ks:
        sh("tmux", "send-keys", "-t", SESSION, k)
        time.sleep(0.06)


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = screen()
        if pred(s):
            return s
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def console_pid(name="elt-console"):
    pane = sh("tmux", "display-message", "-p", "-t", SESSION, "#{pane_pid}").strip()
    out = sh("pgrep", "-P", pane, "-f", name)
    return int(out.split()[0])


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def compose(*args):
    sh("docker-compose", "-p", "elt-sandbox", "-f", f"{DEPLOY}/docker-compose.gpu.yml", *args)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def launch_to_first_frame():
    times = []
    for _ in range(10):
        sh("tmux", "kill-session", "-t", SESSION, check=False)
        start = time.monotonic()
        tmux_start()
        wait(lambda s: "1 Containers" in s and "6 Logs" in s, 10, "first frame")
        times.append((time.monotonic() - start) * 1000)
    sh("tmux", "kill-session", "-t", SESSION, check=False)
    print(f"launch -> first full frame: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
          f"(10 launches, includes starting tmux's pane)")


def idle():
    cpus, rsss = [], []
    for _ in range(REPEATS):
        tmux_start()
        wait(lambda s: "following" in s and "#1" in s, 30, "data in all panels")
        pid = console_pid()
        time.sleep(5)  # let start-up work (first registry read) finish
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        samples = []
        while time.monotonic() - t0 < IDLE_SECONDS:
            time.sleep(5)
            samples.append(rss_mib(pid))
        c1, t1 = cpu_ticks(pid), time.monotonic()
        cpus.append((c1 - c0) / CLK / (t1 - t0) * 100)
        rsss.append(statistics.median(samples))
        keys("q")
    n = len(sh("docker", "ps", "-q", "--filter", "label=com.docker.compose.project=elt-sandbox").split())
    print(f"idle over {IDLE_SECONDS} s with {n} containers: CPU median {statistics.median(cpus):.2f} % of one core "
          f"(runs: {', '.join(f'{c:.2f}' for c in cpus)}), RSS median {statistics.median(rsss):.1f} MiB")


def flood():
    os.environ["FLOOD_RATE"] = str(FLOOD_RATE)
    compose("--profile", "bench", "up", "-d", "flood")
    try:
        tmux_start()
        wait(lambda s: "following" in s, 30, "dashboard up")
        keys(":")
        sh("tmux", "send-keys", "-t", SESSION, "-l", "logs flood")
        keys("Enter")
        wait(lambda s: "flood n=" in s, 30, "flood lines on screen")
        keys("t")  # engine timestamps on each line, to measure lag
        pid = console_pid()
        time.sleep(10)
        rss0, c0, t0 = rss_mib(pid), cpu_ticks(pid), time.monotonic()
        lags = []
        stamp = re.compile(r"│(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")
        while time.monotonic() - t0 < FLOOD_SECONDS:
            s = screen()
            now = datetime.datetime.now(datetime.timezone.utc)
            found = stamp.findall(s)
            if found:
                h, m, sec, ms = map(int, found[-1])
                shown = now.replace(hour=h, minute=m, second=sec, microsecond=ms * 1000)
                lags.append((now - shown).total_seconds())
            time.sleep(2)
        c1, t1, rss1 = cpu_ticks(pid), time.monotonic(), rss_mib(pid)
        # Key -> changed frame: open and close the help overlay during the flood.
        lat = []
        for _ in range(KEY_SAMPLES):
            start = time.monotonic()
            sh("tmux", "send-keys", "-t", SESSION, "?")
            wait(lambda s: "Keys (from the keymap" in s, 5, "help open")
            lat.append((time.monotonic() - start) * 1000)
            start = time.monotonic()
            sh("tmux", "send-keys", "-t", SESSION, "?")
            wait(lambda s: "Keys (from the keymap" not in s, 5, "help closed")
            lat.append((time.monotonic() - start) * 1000)
        title = [l for l in screen().splitlines() if "6 Logs" in l]
        keys("q")
        print(f"flood of {FLOOD_RATE} lines/s for {FLOOD_SECONDS} s: CPU {(c1 - c0) / CLK / (t1 - t0) * 100:.1f} % of one core, "
              f"RSS {rss0:.1f} -> {rss1:.1f} MiB (growth {rss1 - rss0:+.1f} MiB)")
        if lags:
            print(f"  view lag behind the stream: median {statistics.median(lags):.2f} s, max {max(lags):.2f} s "
                  f"({len(lags)} samples of the newest engine timestamp on screen vs the clock)")
        print(f"  key -> changed frame during the flood: p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms "
              f"({len(lat)} presses; includes ~5 ms of tmux capture polling)")
        if title:
            print(f"  logs panel at the end: {title[0].strip('┌─┐ ')[:110]}")
    finally:
        compose("--profile", "bench", "rm", "-fs", "flood")
        sh("tmux", "kill-session", "-t", SESSION, check=False)


def idle_window(pid):
    """CPU (% of one core) and median RSS of pid over PEER_SECONDS, after PEER_WARMUP."""
    time.sleep(PEER_WARMUP)
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    rss = []
    while time.monotonic() - t0 < PEER_SECONDS:
        time.sleep(5)
        rss.append(rss_mib(pid))
    c1, t1 = cpu_ticks(pid), time.monotonic()
    return (c1 - c0) / CLK / (t1 - t0) * 100, statistics.median(rss)


def peer():
    """Ours and a peer (oxker by default) idle on the same sandbox, alternating in one run,
    each in the same 160x45 tmux pane, so both see the same containers and machine load."""
    if not os.access(PEER, os.X_OK):
        raise SystemExit(f"peer binary {PEER} not found: cargo install oxker --version 0.13.1 --locked, or set PEER")
    version = sh(PEER, "--version", check=False).strip() or os.path.basename(PEER)
    ours, theirs = [], []
    for i in range(REPEATS):
        order = ["ours", "peer"] if i % 2 == 0 else ["peer", "ours"]
        for who in order:
            if who == "ours":
                tmux_start()
                wait(lambda s: "following" in s and "#1" in s, 30, "data in all panels")
                ours.append(idle_window(console_pid()))
                keys("q")
            else:
                sh("tmux", "kill-session", "-t", SESSION, check=False)
                sh("tmux", "new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", f"{PEER}; sleep 60")
                wait(lambda s: "elt-sandbox" in s, 30, "peer showing the sandbox containers")
                theirs.append(idle_window(console_pid(os.path.basename(PEER))))
                keys("q")
            sh("tmux", "kill-session", "-t", SESSION, check=False)
    n = len(sh("docker", "ps", "-q").split())
    def line(name, runs):
        cpus = [c for c, _ in runs]
        return (f"{name:<22} CPU median {statistics.median(cpus):.2f} % of one core "
                f"(runs: {', '.join(f'{c:.2f}' for c in cpus)}), RSS median {statistics.median([r for _, r in runs]):.1f} MiB")
    print(f"idle side by side, {REPEATS} alternating windows of {PEER_SECONDS} s after {PEER_WARMUP} s warm-up, "
          f"{n} running containers, 160x45:")
    print("  " + line("elt-console", ours))
    print("  " + line(version, theirs))
    ratio = statistics.median([c for c, _ in ours]) / max(statistics.median([c for c, _ in theirs]), 1e-9)
    print(f"  ours / peer CPU: {ratio:.2f}")


PHASES = os.environ.get("PHASES", "launch,idle,flood").split(",")
if "launch" in PHASES:
    launch_to_first_frame()
if "idle" in PHASES:
    idle()
if "flood" in PHASES:
    flood()
if "peer" in PHASES:
    peer()

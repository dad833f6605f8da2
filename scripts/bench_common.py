"""What the deploy benchmarks share (scripts/bench_deploy.py, scripts/bench_zero_downtime.py):
the test environment's settings and the request probe."""

import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def testenv():
    """scripts/testenv.sh's settings (testenv.env) as a dict."""
    d = Path(os.environ.get("ELT_TESTENV_DIR", ROOT / ".sandbox" / "testenv"))
    out = {}
    for line in (d / "testenv.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.replace("\\", "")
    return out


class Probe(threading.Thread):
    """GET `url` `hz` times a second until finished; keep (wall time, ok) for each request."""

    def __init__(self, url, hz, timeout):
        super().__init__(daemon=True)
        self.url = url
        self.hz = hz
        self.timeout = timeout
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        period = 1.0 / self.hz
        next_at = time.monotonic()
        while not self.stop.is_set():
            t = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as r:
                    ok = r.status == 200
            except Exception:
                ok = False
            self.samples.append((t, ok))
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()

    def finish(self):
        """Stop; the requests sent, those that failed, and the longest outage (first failed
        request to the next OK one)."""
        self.stop.set()
        self.join(5)
        failed = sum(1 for _, ok in self.samples if not ok)
        longest, start = 0.0, None
        for t, ok in self.samples:
            if not ok and start is None:
                start = t
            elif ok and start is not None:
                longest = max(longest, t - start)
                start = None
        if start is not None:
            longest = max(longest, self.samples[-1][0] - start)
        return {"requests": len(self.samples), "failed": failed, "outage_s": longest}

    def first_ok_after(self, wall):
        for t, ok in self.samples:
            if t >= wall and ok:
                return t
        return None


def wait_ok(url, deadline_s=120):
    """Until `url` answers 200, up to `deadline_s`; exit the benchmark if it never does."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer OK within {deadline_s} s")

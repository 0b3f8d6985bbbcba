"""The /proc readings the benches share (bench/proc_stats.py), on a real child process: its CPU
seconds, its peak RSS (also as fleet_read's poller sees it), and 0.0 once it is gone where a
bench samples a child that may exit."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.fleet_read import PeakRss
from bench.proc_stats import cpu_s, or_zero, peak_rss_mb

# holds ~64 MiB, spins ~0.3 s of CPU, then waits to be read
CHILD = """
import sys, time
block = bytearray(64 * 1024 * 1024)
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_live_child_then_a_gone_one() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    poller = PeakRss(child.pid)
    try:
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.5)  # at least one poll of the poller (every 0.2 s)
        assert cpu_s(child.pid) >= 0.3
        assert or_zero(cpu_s, child.pid) == cpu_s(child.pid)
        assert peak_rss_mb(child.pid) >= 64
        assert or_zero(peak_rss_mb, child.pid) == peak_rss_mb(child.pid)
    finally:
        child.stdin.close()
        child.wait()
    assert poller.stop() >= 64
    # reaped: /proc has no entry for it any more
    assert or_zero(cpu_s, child.pid) == 0.0
    assert or_zero(peak_rss_mb, child.pid) == 0.0

"""Smoke test of bench/scale_out.py at a tiny size: its own nats-server, PostgreSQL and simulated
fleet, 1 then 2 worker processes, then the "big" run; the last line is the JSON of its figures,
with the fields issue 11 asks for, and every meter read and stored (never the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADEND = [sys.executable, "-m", "headend.cli.main"]
FIELDS = {"meters", "workers", "meters_per_s", "scaling_2x", "wall_s", "peak_rss_mb_per_worker"}
BIG_FIELDS = {"big_meters", "big_workers", "big_meters_per_s", "big_wall_s"}
PER_COUNT = {"meters_per_s", "wall_s", "peak_rss_mb_per_worker", "latency_s", "queue_depth"}


def _has_role(command: str) -> bool:
    done = subprocess.run(
        [*HEADEND, command, "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return "--role" in done.stdout


def _figures(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_out", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a deadline only: the bench starts servers and processes per run
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


@pytest.mark.slow
@pytest.mark.timeout(960)
def test_every_meter_is_read_by_one_and_two_workers_and_the_json_says_so() -> None:
    if not (_has_role("run") and _has_role("collect")):
        pytest.skip("`headend run --role worker` / `headend collect --role scheduler` missing")
    figures = _figures("--meters", "30", "--workers", "1,2", "--big", "40")

    assert FIELDS | BIG_FIELDS <= set(figures)
    assert figures["meters"] == 30 and figures["workers"] == [1, 2]
    for name in PER_COUNT:
        assert set(figures[name]) == {"1", "2"}, name
    for count in ("1", "2"):
        # every meter read completely, and stored: one database per run, counted in PostgreSQL
        assert figures["ok"][count] == 30 and figures["failed"][count] == 0
        assert figures["meters_stored"][count] == 30
        assert figures["meters_per_s"][count] > 0 and figures["peak_rss_mb_per_worker"][count] > 0
        assert len(figures["worker_cpu_s"][count]) == int(count)
        assert figures["worker_exit"][count] == [0] * int(count)  # SIGTERM is a clean stop
        # the servers sharing the machine are measured (a tiny run may stay under a clock tick)
        assert figures["nats_cpu_s"][count] >= 0 and figures["postgres_cpu_s"][count] >= 0
        assert 0 < figures["machine_busy"][count] <= 1
        # every job published was seen reported: one latency each
        assert figures["jobs_reported"][count] == figures["jobs"][count] > 0
        assert figures["latency_s"][count]["max"] >= figures["latency_s"][count]["p50"] > 0
    # the same fleet and plan give the same readings whatever the number of workers
    assert figures["readings"]["1"] == figures["readings"]["2"] > 0
    assert isinstance(figures["scaling_2x"], float)
    assert isinstance(figures["scaling_2x_span"], float)

    assert figures["big_meters"] == 40 and figures["big_workers"] == 2
    assert figures["big_ok"] == 40 and figures["big_failed"] == 0
    assert figures["big_meters_stored"] == 40 and figures["big_readings"] > 0
    assert figures["big_worker_exit"] == [0, 0]
    assert figures["targets"]["rss_per_worker_lt_1024_mb"] in (True, False)

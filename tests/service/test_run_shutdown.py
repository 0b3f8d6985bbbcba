"""SIGTERM and SIGINT stop `headend run` (a subprocess) cleanly: exit 0 once the runs in progress
had their grace time, the control socket file removed, no traceback in the log; also when the
MQTT sink is down (one warning line naming the sink, no traceback)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.service.run_support import (
    HeadendRun,
    Simulator,
    headend,
    json_lines,
    until,
    write_run_config,
)

# 20 HDLC meters behind one concentrator answer in turn, each request 50 ms late: a run of the
# instantaneous plan takes several seconds, longer than the grace time
SHAPE = ["--meters", "20", "--concentrators", "1", "--meters-per-concentrator", "20"]
LATENCY_MS = 50
FACTOR = 60
GRACE_S = 1.0
LONG_GRACE_S = 120.0  # more than a run takes, however loaded the machine
HANG_GUARD_S = 60.0  # far beyond the grace time: only against a service that never stops


async def stop_and_check(
    service: HeadendRun, signum: int, hang_guard_s: float = HANG_GUARD_S
) -> str:
    """Signal the service, check it exited 0 without a traceback and removed its socket."""
    status = await service.stop(signum, timeout=hang_guard_s)
    log = service.log_text()
    assert status == 0, log
    assert "Traceback" not in log, log
    assert "head-end stopped" in log
    assert not service.socket.exists() and not service.socket.is_symlink()
    return log


@asynccontextmanager
async def started_service(
    tmp_path: Path, *, latency_ms: int = LATENCY_MS, mqtt_port: int | None = None, **service: Any
) -> AsyncIterator[tuple[Path, HeadendRun]]:
    """`headend run` of the instantaneous plan on the simulated SHAPE, started; its config file
    and the service. `service` is the config's [service] table."""
    async with Simulator(tmp_path, *SHAPE, factor=FACTOR, latency_ms=latency_ms) as sim:
        config = write_run_config(
            sim.path,
            tmp_path / "run.toml",
            mqtt_port=mqtt_port,
            plans=["instantaneous"],
            service=service,
        )
        run = HeadendRun(config, tmp_path / "run.log")
        try:
            await run.start()
            yield config, run
        finally:
            await run.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_during_a_run_stops_the_service_cleanly(tmp_path: Path, signum: int) -> None:
    async with started_service(tmp_path, shutdown_grace_s=GRACE_S) as (config, service):
        assert service.socket.exists()
        in_progress = await service.wait_for_run_in_progress()
        assert [r["plan"] for r in in_progress] == ["instantaneous"]
        log = await stop_and_check(service, signum)
    assert f"runs in progress get {GRACE_S:g} s to finish" in log
    # `headend status` sees that nothing runs any more
    code, out, err = await headend("status", "--config", str(config), "--json")
    assert code == 0, err
    assert json_lines(out)[0]["running"] is False


async def test_a_run_in_progress_finishes_within_a_long_enough_grace(tmp_path: Path) -> None:
    async with started_service(tmp_path, shutdown_grace_s=LONG_GRACE_S) as (config, service):
        (run,) = await service.wait_for_run_in_progress()
        log = await stop_and_check(service, signal.SIGTERM, LONG_GRACE_S + HANG_GUARD_S)
    # the run was not cancelled: it ended, was logged and stored with all its meters
    scheduled_for = datetime.fromisoformat(run["scheduled_for"]).isoformat()
    assert f"run instantaneous for {scheduled_for} (schedule): 20 meters, 20 ok" in log, log
    code, out, err = await headend("runs", "--config", str(config), "--json")
    assert code == 0, err
    runs = [r for r in json_lines(out) if "run_id" in r]
    assert [(r["plan"], r["ok"]) for r in runs] == [("instantaneous", 20)], runs


async def test_a_sink_that_is_down_is_one_warning_line_and_no_traceback(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    async with started_service(
        tmp_path, latency_ms=0, mqtt_port=closed, shutdown_grace_s=GRACE_S, mqtt_requests=False
    ) as (config, service):

        async def refused() -> bool:
            status = await service.status()
            assert status is not None
            sinks = {s["sink"]: s for s in status["sinks"]}
            return bool(sinks["mqtt"]["failing"] and sinks["mqtt"]["depth"] > 0)

        await until(refused, "the MQTT sink to fail with readings waiting")
        log = await stop_and_check(service, signal.SIGTERM)
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len([line for line in warnings if "sink mqtt" in line]) == 1, warnings
    assert f"127.0.0.1:{closed}" in next(line for line in warnings if "sink mqtt" in line)
    # nothing else warned (APScheduler's line for a fire that came while the previous run of
    # the plan still went on aside: the service runs it after that one, as designed)
    others = [w for w in warnings if "sink mqtt" not in w and "running instances" not in w]
    assert others == [], others
    # the readings wait in the outbox for the sink's return
    code, out, err = await headend("status", "--config", str(config), "--json")
    assert code == 0, err
    depth = {o["sink"]: o["depth"] for o in json_lines(out)[0]["outbox"]}
    assert depth["mqtt"] > 0

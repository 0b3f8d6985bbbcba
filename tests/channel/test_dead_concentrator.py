"""A dead concentrator with 50 HDLC meters costs one breaker trip, not 50 timeouts.

Real sockets: the dead concentrator is a loopback port that accepts and at once closes every
connection (so the test counts how often the head-end tried), the live channels are simulated
meters. The other channels of the same run are read in full.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from headend.reading import MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.channel.fleets import concentrator, fleet_config, gprs, with_port
from tests.channel.wire import dead_concentrator


async def test_dead_concentrator_trips_the_breaker_once(tmp_path: Path) -> None:
    config = fleet_config(
        tmp_path,
        concentrator("dc-dead", "d", 50),
        concentrator("dc", "h", 3),
        gprs("gprs", "w-1"),
        retries=2,
    )
    async with (
        simulated_fleet(config) as (_sim, served),
        dead_concentrator() as (port, accepted),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        served = with_port(served, "dc-dead", port)
        service = ReadingService(served, store, contacts=store)
        report = await service.run(served.fleet.plan("registers"))

    by_id = {m.meter_id: m for m in report.meters}
    dead = [by_id[f"d-{i}"] for i in range(1, 51)]
    assert all(m.status is MeterStatus.FAILED for m in dead)
    assert {m.cause for m in dead} == {"channel down"}
    # three refused sessions opened the breaker; the 47 others never reached the wire
    assert len(accepted) == 3
    assert sum(m.attempts for m in dead) == 3
    assert sum(1 for m in dead if "down since" in (m.error or "")) >= 47
    channel = service.channels.get("dc-dead")
    assert channel is not None
    assert channel.stats.trips == 1 and channel.stats.sessions == 3
    assert channel.breaker.open_until is not None and channel.breaker.last_error

    for ok in ("h-1", "h-2", "h-3", "w-1"):
        assert by_id[ok].status is MeterStatus.OK, by_id[ok]
        assert by_id[ok].attempts == 1
    live = service.channels.get("dc")
    assert live is not None and live.stats.channel_failures == 0


async def test_open_breaker_refuses_the_next_run_without_touching_the_wire(
    tmp_path: Path,
) -> None:
    config = fleet_config(tmp_path, concentrator("dc-dead", "d", 5), retries=0)
    async with (
        dead_concentrator() as (port, accepted),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        served = with_port(config, "dc-dead", port)
        service = ReadingService(served, store)
        first = await service.run(served.fleet.plan("registers"))
        second = await service.run(served.fleet.plan("registers"))
    assert len(accepted) == 3  # the second run is refused by the open breaker at once
    assert all(m.cause == "channel down" for m in first.meters + second.meters)
    assert all(m.attempts == 0 for m in second.meters)
    assert all("retry after" in (m.error or "") for m in second.meters)


async def test_after_the_backoff_one_probe_goes_out_while_the_others_wait_for_it(
    tmp_path: Path,
) -> None:
    """A wrapper gateway allowing 3 sessions at once: after the open period a new run sends one
    probe, not three; the sessions queued behind it learn its outcome and are refused."""
    gateway = '\n[[channels]]\nid = "gw"\nhost = "127.0.0.1"\nport = 1\nmax_connections = 3\n'
    meters = "".join(
        f'\n[[meters]]\nid = "w-{i}"\nprotocol = "dlms"\nchannel = "gw"\n' for i in range(6)
    )
    config = fleet_config(tmp_path, gateway + meters, retries=0, reading="breaker_backoff_s = 0.2")
    async with (
        dead_concentrator() as (port, accepted),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        served = with_port(config, "gw", port)
        service = ReadingService(served, store)
        first = await service.run(served.fleet.plan("registers"))
        # sessions already under way when it opened still end (at most capacity - 1 of them)
        tried = len(accepted)
        assert 3 <= tried <= 3 + 2
        await asyncio.sleep(0.5)  # longer than the open period: the next session is a probe
        second = await service.run(served.fleet.plan("registers"))
    assert len(accepted) == tried + 1
    assert all(m.cause == "channel down" for m in first.meters + second.meters)
    assert sum(m.attempts for m in second.meters) == 1
    channel = service.channels.get("gw")
    assert channel is not None and channel.stats.trips == 2
    assert channel.breaker.open_until is not None and channel.breaker.opened_at is not None
    assert channel.breaker.open_until - channel.breaker.opened_at == pytest.approx(0.4)

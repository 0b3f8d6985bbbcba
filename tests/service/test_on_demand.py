"""On-demand reads through the service: served on the priority lane of a half-duplex concentrator
before the bulk work queued on it, answered with the readings and stored; bad requests refused
with the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from headend.service.requests import ReadRequest
from headend.service.runtime import HeadendService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.service.fleet_files import REGISTERS, load, shape, write_fleet

BULK = {"name": "bulk", "points": REGISTERS, "rereads": 0}


async def test_an_on_demand_read_overtakes_the_bulk_queue_of_its_channel(tmp_path: Path) -> None:
    fleet_shape = shape(12, concentrators=1, meters_per_concentrator=12)
    config = load(write_fleet(tmp_path / "fleet.toml", fleet_shape, [BULK]))
    # each reply takes a while, so the bulk run of the 12 meters is still queued when the
    # on-demand request arrives (the assertion is on order, not on time)
    async with (
        simulated_fleet(config, response_delay_s=0.03) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        service = HeadendService(served, store, sim.clock)
        meters = [m.id for m in served.fleet.meters_on("dc01")]
        last = meters[-1]
        done: list[str] = []

        async def bulk() -> None:
            await service.run_plan(served.fleet.plan("bulk"))
            done.append("bulk")

        running = asyncio.create_task(bulk())
        async with asyncio.timeout(60):
            while not await store.count_readings():  # noqa: ASYNC110 - the bulk run has begun
                await asyncio.sleep(0.01)
        result = await service.read(
            ReadRequest(correlation_id="c-1", meters=[last], points=[REGISTERS[0]])
        )
        done.append("on-demand")
        await running
        assert done == ["on-demand", "bulk"]
        assert result.ok and result.correlation_id == "c-1"
        assert [(r.meter, r.obis) for r in result.readings] == [(last, REGISTERS[0])]
        # the bulk run had not reached the last meter when the on-demand read was served
        stored = await store.readings(meter_id=last, obis=REGISTERS[0])
        assert len(stored) == 2  # on demand, then bulk: two observations of the register


async def test_bad_requests_are_refused_with_the_reason(tmp_path: Path) -> None:
    config = load(write_fleet(tmp_path / "fleet.toml", shape(2), [BULK]))
    async with await SqliteStore.open(tmp_path / "site.sqlite3") as store:
        service = HeadendService(config, store, sim_clock())
        unknown = await service.read(ReadRequest(meters=["nope"], correlation_id="x"))
        assert not unknown.ok and unknown.error is not None and "nope" in unknown.error
        no_plan = await service.read(ReadRequest(meters=["gprs-000001"], plan="missing"))
        assert not no_plan.ok and "missing" in (no_plan.error or "")


def sim_clock():  # type: ignore[no-untyped-def]
    from headend.service.clock import WallClock

    return WallClock()

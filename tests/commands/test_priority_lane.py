"""Commands travel on the priority lane: on a half-duplex concentrator busy with a bulk plan run,
a command waits only for the session in progress, not for the bulk work queued behind it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from headend.commands.model import CommandState
from headend.commands.service import CommandService
from headend.service.runtime import HeadendService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.commands.rig import fleet_file, request
from tests.service.fleet_files import REGISTERS, load

BULK = {"name": "bulk", "points": REGISTERS, "rereads": 0}


async def test_a_command_overtakes_the_bulk_run_of_its_channel(tmp_path: Path) -> None:
    config = load(fleet_file(tmp_path, plans=[BULK], meters_on_concentrator=12))
    # each reply takes a while, so the bulk run of the 12 meters is still queued when the
    # command arrives (the assertion is on order, not on time)
    async with (
        simulated_fleet(config, response_delay_s=0.03) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        service = HeadendService(served, store, sim.clock)
        commands = CommandService(served, store, service.channels, sim.clock)
        meters = [m.id for m in served.fleet.meters_on("dc01")]
        last = meters[-1]
        done: list[str] = []

        async def bulk() -> None:
            await service.run_plan(served.fleet.plan("bulk"))
            done.append("bulk")

        running = asyncio.create_task(bulk())
        try:
            async with asyncio.timeout(60):
                while not await store.count_readings():  # noqa: ASYNC110 - the bulk run has begun
                    await asyncio.sleep(0.01)
                record = await commands.execute(request(last, id="urgent", priority=0))
                done.append("command")
                read_before = await store.count_readings(last)
                await running
        finally:
            await commands.close()
        assert done == ["command", "bulk"]
        assert record.state is CommandState.CONFIRMED, record.detail
        assert not sim.meter(last).connected
        # the bulk run had not reached the last meter when the command was confirmed
        assert read_before == 0
        assert await store.count_readings(last) == len(REGISTERS)

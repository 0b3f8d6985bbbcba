"""Meter events in the service: the DLMS event logs collected by a plan since the last entry
stored (each entry stored once however often it is read), and a pushed event received by the
service's push intake, stored once even when the log entry is read afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.dlms.events import EVENT_LOGS
from drivers.sim.cosem.events import configure_push, drain_pushes
from headend.events.model import EventOrigin
from headend.reading.channels import channel_registry
from headend.service.collection import Collection
from headend.service.push_intake import PushIntake
from headend.store import SqliteStore
from tests.service.fleet_files import LOAD_PROFILE, load, serving, shape, write_fleet

PLAN = {
    "name": "load-profile",
    "profile": LOAD_PROFILE,
    "profile_window": "PT1H",
    "event_logs": list(EVENT_LOGS),
    "rereads": 0,
}
POWER_DOWN, POWER_UP, TERMINAL_COVER_OPENED = 1, 2, 40


async def test_event_logs_are_collected_once_from_the_last_entry(tmp_path: Path) -> None:
    # two DLMS meters and a DL/T 645 line: its meters keep no event log and are not failed for it
    fleet = shape(4, dlt645_lines=1, meters_per_line=2)
    config = load(write_fleet(tmp_path / "fleet.toml", fleet, [PLAN]))
    async with (
        serving(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        meter = sim.meter("gprs-000001")
        meter.power_fail()
        await asyncio.sleep(0.05)
        meter.power_restore()
        meter.open_cover()
        await asyncio.sleep(0.05)  # the meter's log keeps hundredths: be past them
        collect = Collection(served, store, channel_registry(served.fleet), sim.clock)
        plan = served.fleet.plan("load-profile")
        first = await collect.run(plan)
        assert first.stats.ok == 4, first.meters
        events = await store.events(meter_ids=["gprs-000001"])
        codes = [e.code for e in events if e.code in (POWER_DOWN, POWER_UP, TERMINAL_COVER_OPENED)]
        # the log keeps hundredths of a second: the restore and the cover opening may share one
        # instant, and events of one instant are listed by key
        assert sorted(codes) == [POWER_DOWN, POWER_UP, TERMINAL_COVER_OPENED]
        assert codes[0] == POWER_DOWN
        assert all(e.origin is EventOrigin.METER and e.channel_id for e in events)
        assert {e.source for e in events} <= set(EVENT_LOGS)
        stored = len(await store.events())

        # read again: nothing new is stored; a new event is
        await collect.run(plan)
        assert len(await store.events()) == stored
        meter.power_fail()
        await asyncio.sleep(0.05)
        await collect.run(plan)
        after = await store.events(meter_ids=["gprs-000001"])
        assert [e.code for e in after].count(POWER_DOWN) == 2
        assert len(await store.events()) == stored + 1


async def test_a_pushed_event_is_stored_once_with_its_log_entry(tmp_path: Path) -> None:
    config = load(write_fleet(tmp_path / "fleet.toml", shape(2), [PLAN]))
    async with (
        serving(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        intake = PushIntake(served, store, "127.0.0.1", 0)
        await intake.start()
        try:
            meter = sim.meter("gprs-000002")
            configure_push(meter, f"127.0.0.1:{intake.port}")
            meter.power_fail()
            await drain_pushes()
            for _ in range(100):
                if intake.stored:
                    break
                await asyncio.sleep(0.05)
            [pushed] = await store.events(meter_ids=["gprs-000002"])
            assert (pushed.code, pushed.source) == (POWER_DOWN, "push")
            # the collection reads the same entry from the standard event log: stored once
            collect = Collection(served, store, channel_registry(served.fleet), sim.clock)
            await collect.run(served.fleet.plan("load-profile"))
            power_downs = [
                e for e in await store.events(meter_ids=["gprs-000002"]) if e.code == POWER_DOWN
            ]
            assert len(power_downs) == 1
        finally:
            await intake.stop()

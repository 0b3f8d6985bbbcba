"""Collections on real simulated meters over real TCP, stored in a real SQLite store: gap-aware
profile windows (an outage longer than the window leaves no gap), re-reads, head-end events for
what could not be collected, run statistics and the daily success rate, and the clock check that
synchronises a drifted meter."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from headend.config.fleet import ReadingPlan
from headend.events.model import EventOrigin, HeadendEvent
from headend.reading.channels import channel_registry
from headend.reading.report import MeterStatus
from headend.service.collection import Collection
from headend.store import SqliteStore
from tests.service.fleet_files import (
    CLOCK,
    LOAD_PROFILE,
    REGISTERS,
    load,
    serving,
    shape,
    with_channel_down,
    write_fleet,
)

PROFILE_PLAN = {
    "name": "load-profile",
    "profile": LOAD_PROFILE,
    "profile_window": "PT1H",
    "horizon": "P7D",
    "rereads": 0,
}


async def test_an_outage_longer_than_the_window_is_filled_by_the_next_run(tmp_path: Path) -> None:
    config = load(write_fleet(tmp_path / "fleet.toml", shape(4), [PROFILE_PLAN]))
    async with (
        serving(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        clock = sim.clock
        plan = served.fleet.plan("load-profile")
        collect = Collection(served, store, channel_registry(served.fleet), clock)
        first = await collect.run(plan)
        assert first.stats.ok == 4, first.meters
        victim = "gprs-000001"
        marks = await store.profile_marks(LOAD_PROFILE, [victim])
        before = marks[victim]

        # a day passes while the victim's channel is down: the others are read
        clock.advance(timedelta(days=1))
        down = with_channel_down(served, victim)
        outage = await Collection(down, store, channel_registry(down.fleet), clock).run(plan)
        assert {m.meter_id for m in outage.meters if m.status is MeterStatus.FAILED} == {victim}
        assert (await store.profile_marks(LOAD_PROFILE, [victim]))[victim] == before

        # it answers again: the next run reads the whole day, not only the last hour
        clock.advance(timedelta(minutes=30))
        again = await collect.run(plan)
        assert again.stats.ok == 4
        rows = await store.readings(meter_id=victim, obis=REGISTERS[0], since=before)
        times = [r.capture_time for r in rows]
        assert times[0] == before
        steps = {b - a for a, b in itertools.pairwise(times) if a and b}
        assert steps == {timedelta(minutes=15)}, "a gap is left in the load profile"
        assert times[-1] is not None and times[-1] >= before + timedelta(days=1)
        # the others were read during the outage: their last run asked only for the last half
        # hour (from their marks), not the whole window again
        other = next(m for m in again.meters if m.meter_id != victim)
        assert other.readings <= 3 * 2  # at most three 15-minute rows of two registers


async def test_failures_are_reread_then_reported_as_events_with_statistics(
    tmp_path: Path,
) -> None:
    plan = {
        "name": "daily-registers",
        "points": [*REGISTERS, CLOCK],
        "rereads": 1,
        "reread_spacing": "PT0.2S",
    }
    fleet_shape = shape(
        20,
        concentrators=2,
        meters_per_concentrator=4,
        modbus_gateways=1,
        units_per_gateway=2,
        dlt645_lines=1,
        meters_per_line=2,
    )
    config = load(write_fleet(tmp_path / "fleet.toml", fleet_shape, [plan]))
    silent = {"gprs-000001", "gprs-000002"}
    async with (
        serving(config, silent=silent) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        down = with_channel_down(served, "dc02")
        collect = Collection(down, store, channel_registry(down.fleet), sim.clock)
        result = await collect.run(down.fleet.plan("daily-registers"), trigger="schedule")
        failed = {m.meter_id: m for m in result.meters if m.status is MeterStatus.FAILED}
        behind_dc02 = {m.id for m in down.fleet.meters_on("dc02")}
        assert set(failed) == silent | behind_dc02
        stats = result.stats
        assert (stats.attempted, stats.failed, stats.rereads) == (20, 6, 1)
        assert stats.ok + stats.partial == 14
        assert stats.failed_by_cause == {"timeout": 2, "channel down": 4}
        # the silent meters were tried again in the re-read round (1 + retries, twice)
        assert all(failed[m].attempts == 4 for m in silent)

        events = await store.events()
        codes = sorted((e.code, e.meter_id or e.channel_id) for e in events)
        expected = [(int(HeadendEvent.COLLECTION_FAILED), m) for m in failed]
        expected.append((int(HeadendEvent.CHANNEL_DOWN), "dc02"))
        assert codes == sorted(expected)
        assert all(e.origin is EventOrigin.HEADEND and e.text for e in events)
        assert {e.cause for e in events if e.meter_id in silent} == {"timeout"}

        [stored] = await store.runs()
        assert stored == stats
        [rate] = await store.daily_rates(plan="daily-registers")
        assert (rate.attempted, rate.collected) == (20, 14)


async def test_a_drifted_clock_is_synchronised_and_the_command_recorded(tmp_path: Path) -> None:
    plan = {"name": "clock-check", "points": [CLOCK], "clock_sync_beyond_s": 30, "rereads": 0}
    # HLS-GMAC associations: a public client may not set a meter's clock
    config = load(write_fleet(tmp_path / "fleet.toml", shape(3, cipher_share=1.0), [plan]))
    async with (
        serving(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        sim.meter("gprs-000002").clock_offset = timedelta(minutes=7)
        collect = Collection(served, store, channel_registry(served.fleet), sim.clock)
        check = served.fleet.plan("clock-check")
        await collect.run(check, trigger="schedule")
        events = await store.events(meter_ids=["gprs-000002"])
        assert [e.code for e in events] == [
            int(HeadendEvent.CLOCK_DRIFT),
            int(HeadendEvent.CLOCK_SYNCHRONISED),
        ]
        assert "scheduler:clock-check" in events[1].text and "done" in events[1].text
        assert abs(sim.meter("gprs-000002").clock_offset.total_seconds()) < 5
        assert await store.events(meter_ids=["gprs-000001", "gprs-000003"]) == []

        # the next check finds nothing to do
        await collect.run(check, trigger="schedule")
        assert len(await store.events()) == 2


def test_plans_validate_gap_and_reread_settings() -> None:
    plan = ReadingPlan(name="p", profile=LOAD_PROFILE, horizon="P3D", reread_spacing="PT30S")
    assert plan.horizon == timedelta(days=3) and plan.rereads == 2

"""The reading path and the store: a failing store keeps the readings and fails the run loudly;
conflicting readings are counted per meter.

`FlakySink` is a double of the *sink* only (the component under test is the reading service): it
forwards to a real `SqliteStore` and raises `StoreError` for its first N writes, as a full disk or
a locked database would. Meters are real simulated DLMS meters behind a simulated concentrator.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Point, Reading
from headend.config import meter_settings
from headend.reading import MeterStatus, ReadingService, RunFailed, read_meter
from headend.simulation import simulated_fleet
from headend.store import SaveResult, SqliteStore, StoreError
from tests.channel.fleets import concentrator, fleet_config


class FlakySink:
    def __init__(self, store: SqliteStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.calls = 0
        self.path = store.path

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"saving {len(readings)} readings failed on database {self.path}")
        return await self.store.save_batch(readings)

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        return (await self.save_batch(readings)).new


async def test_store_failure_keeps_readings_until_the_store_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 3))
    async with (
        simulated_fleet(config) as (_sim, served),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        sink = FlakySink(store, failures=2)
        service = ReadingService(served, sink)
        with caplog.at_level(logging.WARNING):
            report = await service.run(served.fleet.plan("registers"))
        assert report.all_ok  # the meters were read; the store's trouble is not theirs
        assert service.unsaved == []
        assert await store.count_readings() == report.readings == 9
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("store failed" in r.getMessage() for r in caplog.records)


async def test_store_still_failing_at_the_end_fails_the_run_and_spools(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 3))
    async with (
        simulated_fleet(config) as (_sim, served),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        sink = FlakySink(store, failures=1_000)
        service = ReadingService(served, sink)
        plan = served.fleet.plan("registers")
        with pytest.raises(RunFailed) as failed:
            await service.run(plan)
        assert failed.value.kept == 9 == len(service.unsaved)
        assert str(store.path) in str(failed.value) and "9 readings are kept" in str(failed.value)
        spool = failed.value.spool
        assert spool is not None and spool.parent == store.path.parent
        lines = spool.read_text().splitlines()
        assert len(lines) == 9 and {json.loads(line)["meter_id"] for line in lines} == {
            "h-1",
            "h-2",
            "h-3",
        }
        assert await store.count_readings() == 0

        sink.failures = 0  # the store is back: the next run saves the kept readings first
        report = await service.run(plan)
        assert report.all_ok and service.unsaved == []
        assert await store.count_readings() == 9 + report.readings


async def test_conflicting_reading_is_counted_for_its_meter(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 2))
    now = datetime.now(UTC)
    async with simulated_fleet(config) as (_sim, served):
        plan = served.fleet.plan("full")
        async with await SqliteStore.open(tmp_path / "first.sqlite3") as first:
            await ReadingService(served, first).run(plan, now=now)
            rows = [
                r
                for r in await first.readings(meter_id="h-1")
                if r.capture_time is not None and isinstance(r.value, Decimal)
            ]
        assert rows  # profile values, keyed on the meter's capture time
        value = rows[0].value
        assert isinstance(value, Decimal)
        wrong = rows[0].model_copy(update={"value": value + 1})
        async with await SqliteStore.open(tmp_path / "second.sqlite3") as second:
            await second.save_batch([wrong])
            report = await ReadingService(served, second).run(plan, now=now)
            conflicts = await second.conflicts(meter_id="h-1")
    by_id = {m.meter_id: m for m in report.meters}
    assert by_id["h-1"].status is MeterStatus.OK
    assert by_id["h-1"].conflicts == 1 and by_id["h-2"].conflicts == 0
    assert report.conflicts == 1 and len(conflicts) == 1


async def test_single_meter_read_fails_loudly_when_the_store_never_takes_its_readings(
    tmp_path: Path,
) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 1))
    async with (
        simulated_fleet(config) as (_sim, served),
        await SqliteStore.open(tmp_path / "r.sqlite3") as store,
    ):
        plan = served.fleet.plan("registers")
        with pytest.raises(RunFailed, match="3 readings of meter h-1 were not saved") as failed:
            await read_meter(
                "h-1",
                "dc",
                plan=plan,
                points=[Point(obis=o) for o in plan.points],
                window=None,
                policy=served.fleet.reading,
                resolve=lambda m: meter_settings(served, m),
                sink=FlakySink(store, failures=1_000),
            )
    assert failed.value.kept == 3 and failed.value.spool is not None

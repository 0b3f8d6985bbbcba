"""The whole service on a schedule, on SQLite and on a real PostgreSQL: the scheduler follows the
simulated clock (3600x: a 15-minute plan every quarter of a real second), every fire time is
collected once, the profile has no gap and no duplicate across runs, and each run's statistics
are stored."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from headend.service.daemon import Daemon
from headend.store import open_store
from tests.postgres_server import PostgresServer
from tests.service.fleet_files import LOAD_PROFILE, REGISTERS, load, serving, shape, write_fleet

PLAN = {
    "name": "load-profile",
    "profile": LOAD_PROFILE,
    "profile_window": "PT1H",
    "rereads": 0,
    "schedule": "every 15 minutes",
}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "site.sqlite3")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


async def test_scheduled_runs_collect_each_fire_time_once(tmp_path: Path, database: str) -> None:
    fleet_shape = shape(5, factor=3600.0, history=timedelta(days=2))
    config = load(write_fleet(tmp_path / "fleet.toml", fleet_shape, [PLAN]))
    async with serving(config) as (sim, served):
        store = await open_store(database)
        daemon = Daemon(served, store, sim.clock, database_url=database)
        try:
            await daemon.start()
            async with asyncio.timeout(60):
                while len(await store.runs()) < 4:  # noqa: ASYNC110 - runs land in the store
                    await asyncio.sleep(0.05)
            await daemon.stop()
            runs = await store.runs()
            times = [r.scheduled_for for r in runs]
            assert len(times) == len(set(times)), "a fire time was collected twice"
            assert all(r.trigger == "schedule" and r.ok == 5 for r in runs)
            assert all(t is not None and t.minute % 15 == 0 and t.second == 0 for t in times)
            rows = await store.readings(meter_id="gprs-000003", obis=REGISTERS[0])
            captures = [r.capture_time for r in rows if r.capture_time is not None]
            assert len(captures) == len(set(captures))
            steps = {b - a for a, b in itertools.pairwise(captures)}
            assert steps == {timedelta(minutes=15)}, "the profile has a gap"
            marks = await store.profile_marks(LOAD_PROFILE, ["gprs-000003"])
            assert marks["gprs-000003"] == captures[-1]
        finally:
            await daemon.stop()
            await store.close()

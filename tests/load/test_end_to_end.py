"""The load manager end to end, over real sockets: simulated DLMS households on one feeder whose
evening peak exceeds its capacity, the feeder meter at the transformer measuring their sum, and
the head-end (`headend run`'s Daemon) reading, allocating and commanding them.

What is checked is measured on the simulated meters: the feeder meter's load (read by the
head-end every cycle and kept in the cycle records) and the limiters' state in the simulators.
Time is the simulators' accelerated clock; every wait is a hang guard on simulated time, never a
timing assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from drivers.dlms.client.commands import NO_LIMIT
from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.load.manager import REQUESTER
from headend.load.metrics import LoadCycle
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.simulation.grid import GridShape, add_grid
from headend.store import SqliteStore
from tests.service.fleet_files import load, shape, write_fleet

DAY = date(2026, 11, 30)
FACTOR = 240.0  # a 5-minute cycle is 1.25 s
HOUSEHOLDS = 8
MEDICAL = "gprs-000005"  # the grid layout makes the 5th of 8 households medical (1 in 8)
FEEDER = "feeder-1"


def _fleet(tmp_path: Path, start: time, lease: str) -> Path:
    def tweak(data: dict[str, Any]) -> None:
        grid = GridShape(
            feeders=1,
            pv_share=0.0,
            priority_share=1 / HOUSEHOLDS,
            overload=1.3,
            dr_share=0.0,
            window_start=time(17, 0),
            window_end=time(22, 0),
        )
        load_section = add_grid(data, grid, "127.0.0.1", DAY)
        load_section.update(cycle="PT5M", lease=lease)
        data["simulation"].update(
            factor=FACTOR, pv_share=0.0, clock_start=datetime.combine(DAY, start, tzinfo=UTC)
        )
        data["service"]["commands"] = {"backoff_s": 0.05, "backoff_max_s": 0.2}

    plans = [
        {
            "name": "instantaneous",
            "points": ["1.0.1.7.0.255", "1.0.2.7.0.255"],
            "rereads": 0,
            "schedule": "every 5 minutes",
        }
    ]
    fleet_shape = shape(HOUSEHOLDS, factor=FACTOR, history=timedelta(hours=1))
    return write_fleet(tmp_path / "grid.toml", fleet_shape, plans, tweak=tweak)


async def _until(
    sim: SimulatedFleet, check: Callable[[], Awaitable[bool]], what: str, by: time
) -> None:
    """Poll until `check` holds; fail once the simulated clock passes `by` (a hang guard)."""
    deadline = datetime.combine(DAY, by, tzinfo=UTC)
    while not await check():
        if sim.clock.now() > deadline:
            raise AssertionError(f"no {what} by {by} (simulated time)")
        await asyncio.sleep(0.05)


def _limit_in_force(
    sim: SimulatedFleet, meter: str | None, at: datetime | None = None
) -> float | None:
    """The limit the simulated meter applies now (or at `at`, as things stand); None: none (a
    released DLMS limiter holds the largest threshold it can, which never binds)."""
    limit = sim.meter(str(meter)).active_limit_w(at)
    return None if limit is None or limit >= NO_LIMIT else limit


async def _load_commands(store: SqliteStore) -> list[CommandRecord]:
    return [c for c in await store.commands() if c.requester == REQUESTER]


async def test_an_overloaded_feeder_is_brought_under_capacity_and_released(
    tmp_path: Path,
) -> None:
    config = load(_fleet(tmp_path, time(18, 20), "PT15M"))
    assert config.fleet.load is not None
    feeder = config.fleet.load.feeders[0]
    usable, capacity = feeder.usable_kw, feeder.capacity_kw
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:

            async def cleared() -> bool:
                cycles = await store.load_cycles(feeder=FEEDER)
                first = next((i for i, c in enumerate(cycles) if c.overloaded), None)
                return first is not None and len(cycles) >= first + 3

            await _until(sim, cleared, "overload followed by two cycles", time(19, 30))
            cycles = await store.load_cycles(feeder=FEEDER)
            first = next(i for i, c in enumerate(cycles) if c.overloaded)
            overload = cycles[first]
            assert overload.load_kw is not None and overload.load_kw > usable
            # limits sent and confirmed by reading the meters back
            limits = [
                c
                for c in await _load_commands(store)
                if c.action is CommandAction.LIMIT and c.state is CommandState.CONFIRMED
            ]
            assert limits, "no limit confirmed"
            assert all(c.lease_s for c in limits)  # every limit is a lease
            # the simulated feeder, measured at its meter, is under its capacity within two
            # cycles (the manager aims at the usable capacity: the margin absorbs the households'
            # growth within a cycle and the commands' time to reach the meters)
            after: list[LoadCycle] = cycles[first + 1 : first + 3]
            assert any(c.load_kw is not None and c.load_kw <= capacity for c in after), [
                (c.at.time(), c.load_kw) for c in cycles[first : first + 3]
            ]
            limited = {c.meter for c in limits}
            in_force = {m for m in limited if _limit_in_force(sim, m) is not None}
            assert in_force  # the meters themselves apply the limits

            async def released() -> bool:
                latest: dict[str, CommandRecord] = {}
                for command in await _load_commands(store):  # oldest first
                    if command.meter is not None and command.state.final:
                        latest[command.meter] = command
                return bool(limited) and all(
                    m in latest
                    and latest[m].action is CommandAction.RELEASE
                    and latest[m].state is CommandState.CONFIRMED
                    for m in limited
                )

            # the evening peak passes (about 20:05 here): every limit is released
            await _until(sim, released, "release of every limit", time(21, 45))
            assert all(_limit_in_force(sim, m) is None for m in limited)
            commands = await _load_commands(store)
            assert MEDICAL not in {c.meter for c in commands}  # never limited
            late = [c for c in await store.load_cycles(feeder=FEEDER) if c.at.hour >= 21]
            assert all(not c.overloaded for c in late)
        finally:
            await daemon.stop()


async def test_limits_expire_on_the_meters_when_the_head_end_is_stopped(tmp_path: Path) -> None:
    config = load(_fleet(tmp_path, time(18, 40), "PT11M"))
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:

            async def limited() -> bool:
                return any(
                    c.action is CommandAction.LIMIT and c.state is CommandState.CONFIRMED
                    for c in await _load_commands(store)
                )

            await _until(sim, limited, "a confirmed limit", time(19, 30))
        finally:
            await daemon.stop()
        stopped_at = sim.clock.now()
        households = [m.id for m in served.fleet.meters if m.id.startswith("gprs-")]
        in_force = [h for h in households if _limit_in_force(sim, h) is not None]
        assert in_force, "the limits were in force when the head-end stopped"

        # nobody renews them: on each meter's own clock, every one lapses within its 11-minute
        # lease of the stop (the latest was renewed just before it at the most) ...
        lapse = stopped_at + timedelta(minutes=11, seconds=1)
        assert all(_limit_in_force(sim, h, at=lapse) is None for h in in_force)

        async def expired() -> bool:
            return all(_limit_in_force(sim, h) is None for h in in_force)

        # ... and is seen gone when simulated time gets there
        await _until(sim, expired, "every limit dropped by its meter", time(20, 0))

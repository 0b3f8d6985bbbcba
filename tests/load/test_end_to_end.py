"""The load manager end to end, over real sockets: simulated DLMS households on one feeder whose
evening peak exceeds its capacity, the feeder meter at the transformer measuring their sum, and
the head-end (`headend run`'s Daemon) reading, allocating and commanding them.

What is checked is measured on the simulated meters: the feeder meter's load (read by the
head-end every cycle and kept in the cycle records) and the limiters' state in the simulators.
Time is the simulators' accelerated clock; every wait is a hang guard on simulated time, never a
timing assertion.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from drivers.dlms.client.commands import NO_LIMIT
from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.load.manager import REQUESTER
from headend.load.metrics import LoadCycle
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.store import SqliteStore
from tests.load.grid_rig import FEEDER, MEDICAL, grid_fleet, until
from tests.service.fleet_files import load


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
    config = load(grid_fleet(tmp_path, time(18, 20)))
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

            await until(sim, cleared, "overload followed by two cycles", time(19, 30))
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
            await until(sim, released, "release of every limit", time(21, 45))
            assert all(_limit_in_force(sim, m) is None for m in limited)
            commands = await _load_commands(store)
            assert MEDICAL not in {c.meter for c in commands}  # never limited
            late = [c for c in await store.load_cycles(feeder=FEEDER) if c.at.hour >= 21]
            assert all(not c.overloaded for c in late)
        finally:
            await daemon.stop()


async def test_limits_expire_on_the_meters_when_the_head_end_is_stopped(tmp_path: Path) -> None:
    config = load(grid_fleet(tmp_path, time(18, 40), lease="PT11M"))
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

            await until(sim, limited, "a confirmed limit", time(19, 30))
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
        await until(sim, expired, "every limit dropped by its meter", time(20, 0))

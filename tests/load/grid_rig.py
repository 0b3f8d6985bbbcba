"""The small grid the load manager's end-to-end tests run on: simulated DLMS households (LLS) on
one feeder with its meter at the transformer, laid out by `headend/simulation/grid.py` with the
feeder's capacity worked out from the households' own load model (its evening peak 30 % over the
usable capacity), one medical household, an accelerated simulated clock, and the households'
usage read every 5 simulated minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from headend.simulation.fleet import SimulatedFleet
from headend.simulation.grid import GridShape, add_grid
from tests.service.fleet_files import shape, write_fleet

DAY = date(2026, 11, 30)
FACTOR = 240.0  # a 5-minute cycle is 1.25 s
HOUSEHOLDS = 8
MEDICAL = "gprs-000005"  # the grid layout makes the 5th of 8 households medical (1 in 8)
FEEDER = "feeder-1"


def grid_fleet(
    tmp_path: Path,
    start: time,
    *,
    lease: str = "PT15M",
    demand_response: list[dict[str, Any]] | None = None,
) -> Path:
    """The fleet file, its simulated clock starting at `start` on DAY."""

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
        if demand_response:
            load_section["demand_response"] = demand_response
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


async def until(
    sim: SimulatedFleet, check: Callable[[], Awaitable[bool]], what: str, by: time
) -> None:
    """Poll until `check` holds; fail once the simulated clock passes `by` on DAY (a hang
    guard on simulated time, not a timing assertion)."""
    deadline = datetime.combine(DAY, by, tzinfo=UTC)
    while not await check():
        if sim.clock.now() > deadline:
            raise AssertionError(f"no {what} by {by} (simulated time)")
        await asyncio.sleep(0.05)

"""Shared parts of the billing-values tests: a frozen clock, the meter's energy function.

`registers_at` is the reference: a fresh meter of the same seed whose simulated life runs from
the same start up to the instant asked for; its registers then are what a billing row captured at
that instant must hold.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from drivers.contract import Reading
from drivers.sim.clock import SimClock
from drivers.sim.physics import SimulatedMeter

# A Monday evening (18:07 in Shanghai); 70 days of history reach back to 2024-12-23.
NOW = datetime(2025, 3, 3, 10, 7, tzinfo=UTC)
HISTORY = timedelta(days=70)
SEED = 11
IMPORT_COLUMNS = ("1.0.1.8.0.255", "1.0.1.8.1.255", "1.0.1.8.2.255", "1.0.1.8.3.255")
COLUMNS = (*IMPORT_COLUMNS, "1.0.1.8.4.255", "1.0.2.8.0.255")


def frozen_clock() -> SimClock:
    return SimClock(start=NOW, factor=0)


def registers_at(at: datetime, seed: int = SEED, history: timedelta = HISTORY) -> dict[str, int]:
    """Whole Wh of each billing column at `at`, for a meter built at NOW with `history`."""
    reference = SimulatedMeter(
        "reference", SimClock(start=at, factor=0), seed=seed, history=at - (NOW - history)
    )
    tariffs = reference.import_wh
    return {
        "1.0.1.8.0.255": sum(tariffs),
        **{f"1.0.1.8.{t}.255": wh for t, wh in enumerate(tariffs, start=1)},
        "1.0.2.8.0.255": reference.export_wh,
    }


def by_capture(readings: list[Reading]) -> dict[datetime, dict[str, Decimal]]:
    rows: dict[datetime, dict[str, Decimal]] = defaultdict(dict)
    for reading in readings:
        assert reading.capture_time is not None
        assert isinstance(reading.value, Decimal)
        assert reading.unit == "Wh"
        rows[reading.capture_time][reading.obis] = reading.value
    return dict(rows)


def utc_midnight(days_ago: int) -> datetime:
    return NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


def assert_non_decreasing(rows: dict[datetime, dict[str, Decimal]]) -> None:
    ordered = [rows[when] for when in sorted(rows)]
    for earlier, later in pairwise(ordered):
        for obis in earlier:
            assert later[obis] >= earlier[obis], obis

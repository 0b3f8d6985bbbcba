"""A simulated month straight from the physics: what a month of profile collection and daily
billing reads stores, consistent with itself (the profile at midnight is the daily register,
tariff registers add up to the total) and storable without a single conflict."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from headend.simulation.month import EXPORT, IMPORT, TARIFF_REGISTERS, simulated_month
from headend.store import open_store

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


async def test_a_month_is_consistent_and_stores_cleanly(tmp_path: Path) -> None:
    meters = ["m1", "m2", "m3"]
    months = list(simulated_month(meters, START, END, seed=7, pv_share=1.0))
    store = await open_store(tmp_path / "site.sqlite3")
    try:
        for readings in months:
            result = await store.save_batch(readings)
            assert result.conflicts == []
        columns = await store.register_columns(
            meters, [IMPORT, EXPORT, *TARIFF_REGISTERS], START, END
        )
    finally:
        await store.close()
    series: dict[tuple[str, str], dict[datetime, Decimal]] = defaultdict(dict)
    for column in columns:
        assert column.unit == "Wh" and column.captured and not column.flagged
        series[(column.meter_id, column.obis)] = dict(zip(column.times, column.values, strict=True))
    for meter in meters:
        imports = series[(meter, IMPORT)]
        # every quarter-hour of the month, both ends included
        assert len(imports) == 31 * 96 + 1
        times = sorted(imports)
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(times))
        values = [imports[t] for t in times]
        assert all(b >= a for a, b in itertools.pairwise(values))  # cumulative
        assert values[-1] > values[0]  # a household uses energy
        assert series[(meter, EXPORT)][END] > 0  # every household here has PV
        for day in range(32):
            midnight = START + timedelta(days=day)
            tariffs = [series[(meter, obis)][midnight] for obis in TARIFF_REGISTERS]
            # the daily row: tariff registers sum to the total, which the profile also holds
            assert sum(tariffs) == imports[midnight]

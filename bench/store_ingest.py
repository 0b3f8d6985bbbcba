"""Bulk ingest into the SQLite store: readings/s for new rows, repeats and conflicts.

    .venv/bin/python -m bench.store_ingest [--readings 100000] [--batch 1000]

Writes `--readings` new profile readings in batches of `--batch`, then the same number again as a
mix (half repeats of stored readings, half new, one conflicting value per meter), and prints the
rate of each pass (wall clock) and of both per CPU second; the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from drivers.contract import Reading
from headend.store import SqliteStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def profile(meter: int, start: int, count: int, bump: int = 0) -> list[Reading]:
    """`count` quarter-hour energy readings of one meter from slot `start`, read in one session."""
    received = T0 + (start + count) * QUARTER
    return [
        Reading(
            meter_id=f"m{meter:06d}",
            obis="1.0.1.8.0.255",
            value=Decimal(slot * 125 + bump) / 1000,
            unit="kWh",
            capture_time=T0 + slot * QUARTER,
            receive_time=received,
        )
        for slot in range(start, start + count)
    ]


async def ingest(store: SqliteStore, batches: list[list[Reading]]) -> tuple[float, float, int, int]:
    """(wall s, CPU s of the process, rows new, conflicts) for saving `batches` one by one."""
    new = conflicts = 0
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        result = await store.save_batch(batch)
        new += result.new
        conflicts += len(result.conflicts)
    return time.perf_counter() - started, time.process_time() - cpu, new, conflicts


async def main(total: int, batch: int) -> dict[str, int]:
    per_meter = 96
    meters = max(1, total // per_meter)
    first = [profile(m, 0, per_meter) for m in range(meters)]
    # second pass per meter: 48 repeats, 47 new, 1 conflicting value for a stored slot
    second = [
        profile(m, 48, 48) + profile(m, per_meter, 47) + profile(m, 0, 1, bump=1)
        for m in range(meters)
    ]

    def batched(per_meter_lists: list[list[Reading]]) -> list[list[Reading]]:
        flat = [r for readings in per_meter_lists for r in readings]
        return [flat[i : i + batch] for i in range(0, len(flat), batch)]

    with tempfile.TemporaryDirectory() as tmp:
        async with await SqliteStore.open(Path(tmp) / "ingest.sqlite3") as store:
            new_s, new_cpu, new, _ = await ingest(store, batched(first))
            mixed_s, mixed_cpu, mixed_new, conflicts = await ingest(store, batched(second))
    rows = meters * per_meter
    report = {
        "readings": rows,
        "batch": batch,
        "new_readings_per_s": round(rows / new_s),
        "mixed_readings_per_s": round(rows / mixed_s),
        "store_readings_per_s": round(2 * rows / (new_s + mixed_s)),
        # per CPU second of this process (SQLite's thread included): what one free core would do,
        # less disturbed than wall time when other processes share the machine
        "store_readings_per_cpu_s": round(2 * rows / (new_cpu + mixed_cpu)),
        "mixed_new": mixed_new,
        "conflicts": conflicts,
    }
    assert new == rows and conflicts == meters, report
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(main(args.readings, args.batch))
    print(f"new rows:   {result['new_readings_per_s']:>9,} readings/s")
    print(f"mixed rows: {result['mixed_readings_per_s']:>9,} readings/s")
    print(f"both, per CPU second: {result['store_readings_per_cpu_s']:>9,} readings")
    print(json.dumps(result))

"""Saves readings into a SqliteStore while the process may write no more than a few KiB more.

    python -m tests.store.full_disk DB

A file-size limit (RLIMIT_FSIZE) makes every write past it fail as a full disk does (EFBIG, which
SQLite reports as "database or disk is full" or as "disk I/O error"). Prints one JSON line:
{"error": type, "message": text} from the failed save_readings, or {"error": null}.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.contract import Reading
from headend.store import SqliteStore

T0 = datetime(2025, 3, 1, tzinfo=UTC)


async def main(db: str) -> dict[str, object]:
    async with await SqliteStore.open(db) as store:
        # past the limit the kernel sends SIGXFSZ, which would kill the process: take EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        many = [
            Reading(
                meter_id=f"big{i:05d}",
                obis="1.0.1.8.0.255",
                value=Decimal(i),
                unit="Wh",
                capture_time=T0 + timedelta(minutes=i),
                receive_time=T0,
            )
            for i in range(20_000)
        ]
        try:
            await store.save_readings(many)
        except Exception as err:
            return {"error": type(err).__name__, "message": str(err)}
    return {"error": None}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))

"""A store that cannot write fails loudly with StoreError, and what was committed stays intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Reading
from headend.store import SqliteStore, StoreError

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def readings(meter_id: str, count: int) -> list[Reading]:
    return [
        Reading(
            meter_id=meter_id,
            obis="1.0.1.8.0.255",
            value=Decimal(i),
            unit="Wh",
            capture_time=T0 + timedelta(minutes=15 * i),
            receive_time=T0,
        )
        for i in range(count)
    ]


async def test_a_full_disk_raises_store_error_and_keeps_earlier_readings(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    async with await SqliteStore.open(db) as store:
        assert await store.save_readings(readings("kept", 10)) == 10
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.store.full_disk",
        str(db),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().splitlines()[-1])
    assert result["error"] == "StoreError", result
    assert str(db) in result["message"] and "saving 20000 readings" in result["message"]
    # SQLite names EFBIG "database or disk is full" or "disk I/O error", depending on which write
    assert "full" in result["message"] or "I/O error" in result["message"]

    async with await SqliteStore.open(db) as store:
        assert await store.count_readings() == 10  # nothing of the failed batch
        assert await store.readings(meter_id="kept") == readings("kept", 10)


async def test_a_batch_failing_halfway_is_rolled_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with await SqliteStore.open(db) as store:
        await store.save_readings(readings("kept", 3))
        # a write error in the middle of the batch, from SQLite itself
        with sqlite3.connect(db) as other:
            other.execute(
                "CREATE TRIGGER fail BEFORE INSERT ON readings WHEN NEW.meter_id = 'bad' "
                "BEGIN SELECT RAISE(ABORT, 'simulated I/O failure'); END"
            )
        batch = readings("new", 5) + readings("bad", 1) + readings("later", 5)
        with pytest.raises(StoreError, match="simulated I/O failure") as info:
            await store.save_readings(batch)
        assert str(db) in str(info.value) and "saving 11 readings" in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.Error)
        assert await store.count_readings() == 3
        assert await store.readings(meter_id="new") == []
        # the store is still usable: the same batch without the bad reading goes in
        assert await store.save_readings(readings("new", 5) + readings("later", 5)) == 10


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for " * 100)
    with pytest.raises(StoreError, match=r"opening database .*notes\.db failed"):
        await SqliteStore.open(path)


async def test_a_cancelled_save_completes_whole_and_leaves_the_store_usable(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        saving = asyncio.create_task(store.save_readings(readings("big", 20_000)))
        await asyncio.sleep(0.01)  # inside the transaction by now, or about to be
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving
        # the next write waits for the cancelled one's transaction, which ran to its end
        assert await store.save_readings(readings("after", 2)) == 2
        assert await store.count_readings("big") == 20_000

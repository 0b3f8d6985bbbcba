"""SqliteStore: reading a counter while counters are reserved and other writes commit never fails
a reservation with "database is locked".

Before load_counter took the counters' lock, its SELECT could still be open on the counters
connection (a read snapshot) when a reservation's BEGIN IMMEDIATE ran on it: once the main
connection had committed since, SQLite refused at once (SQLITE_BUSY_SNAPSHOT, not waited out by
the busy timeout). `headend run` hit it when a scheduled run started (it loads the plan's done
mark) while another run's ciphered meters reserved counters: a meter failed as "unexpected error".
The interleaving is a race: without the lock these 1500 rounds met it in each of 3 runs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from headend.store import SqliteStore
from headend.store.base import StoreError

ROUNDS = 1500


async def test_reservations_never_meet_an_open_counter_read(tmp_path: Path) -> None:
    failures: list[str] = []
    reserved: list[int] = []
    async with await SqliteStore.open(tmp_path / "site.sqlite3") as store:

        async def commits_elsewhere() -> None:
            for i in range(ROUNDS):
                await store.save_counter(f"plan-done:p{i % 3}", i)
                await store.record_contact("m1", at=datetime.now(UTC), ok=True)

        async def loads() -> None:
            for _ in range(ROUNDS):
                await store.load_counter("plan-done:p1")

        async def reserves() -> None:
            for _ in range(ROUNDS):
                try:
                    reserved.append(await store.reserve_counters("dlms:m1", 10))
                except StoreError as exc:
                    failures.append(str(exc))

        await asyncio.gather(commits_elsewhere(), commits_elsewhere(), loads(), reserves(), loads())
        assert failures == []
        assert reserved == list(range(0, ROUNDS * 10, 10))  # blocks handed out in order, once
        assert await store.load_counter("dlms:m1") == ROUNDS * 10

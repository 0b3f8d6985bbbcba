"""SqliteStore: a write never fails with "database is locked" because a read was open on the
connection it writes on.

A SELECT still open on a connection holds a read snapshot; a BEGIN IMMEDIATE on that connection
interleaved with it fails at once (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not wait
out) once another connection has committed since. load_counter read on the counters connection
outside the counters' lock (`headend run` met it when a scheduled run loaded its plan-done mark
while another run's ciphered meters reserved counters: a meter failed as "unexpected error"), and
readings/conflicts/contacts were read on the main connection the readings are written on. The
interleaving is a race: without the fixes these rounds met it in every run tried.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from drivers.contract import Reading
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


async def test_writes_never_meet_an_open_read_of_readings_or_contacts(tmp_path: Path) -> None:
    failures: list[str] = []
    async with await SqliteStore.open(tmp_path / "site.sqlite3") as store:

        async def commits_elsewhere() -> None:
            for i in range(ROUNDS):
                await store.save_counter("plan-done:p", i)  # the counters connection

        async def reads() -> None:
            for _ in range(ROUNDS // 3):
                await store.readings(meter_id="m1")
                await store.last_contacts()

        async def writes() -> None:
            for i in range(ROUNDS):
                try:
                    await store.save_batch([energy(i)])
                except StoreError as exc:
                    failures.append(str(exc))

        await asyncio.gather(commits_elsewhere(), commits_elsewhere(), reads(), writes(), reads())
        assert failures == []
        assert await store.count_readings("m1") == ROUNDS


def energy(step: int) -> Reading:
    return Reading(
        meter_id="m1",
        obis="1.0.1.8.0.255",
        value=Decimal(step),
        unit="Wh",
        capture_time=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=15 * step),
        receive_time=datetime.now(UTC),
    )

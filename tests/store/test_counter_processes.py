"""Counter reservations on a real SqliteStore file across processes: one SIGKILL'd, two at once."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from headend.store import SqliteStore, Store

from .processes import run_together, spawn
from .reserver import BLOCK


async def test_reserve_counters_hands_out_consecutive_blocks(store: Store) -> None:
    assert await store.reserve_counters("k", 256) == 0
    assert await store.reserve_counters("k", 10) == 256
    assert await store.load_counter("k") == 266
    await store.save_counter("k", 100)  # max(): never moves the mark back
    assert await store.reserve_counters("k", 1) == 266
    assert await store.reserve_counters("other", 5) == 0
    firsts = await asyncio.gather(*(store.reserve_counters("k", 3) for _ in range(50)))
    assert sorted(firsts) == list(range(267, 267 + 150, 3))


async def test_a_killed_process_never_gets_its_blocks_handed_out_again(tmp_path: Path) -> None:
    db = tmp_path / "counters.db"
    proc = await spawn("tests.store.reserver", str(db), "dlms:m1", "loop")
    assert proc.stdout is not None
    printed: list[int] = []
    async with asyncio.timeout(60):
        while len(printed) < 30:
            line = await proc.stdout.readline()
            assert line, (await proc.stderr.read()).decode() if proc.stderr else "no output"
            printed.append(int(line))
        proc.send_signal(signal.SIGKILL)
        rest, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    printed += [int(line) for line in rest.decode().split()]
    assert printed == sorted(set(printed))

    # the next process (a fresh open of the file, as after a restart) starts above all of them
    async with await SqliteStore.open(db) as store:
        after = await store.reserve_counters("dlms:m1", BLOCK)
    assert after >= max(printed) + BLOCK


async def test_two_processes_reserving_at_once_never_overlap(tmp_path: Path) -> None:
    db = tmp_path / "counters.db"
    # create the schema first, so both start reserving rather than migrating
    await (await SqliteStore.open(db)).close()
    count = 200
    procs = [
        await spawn("tests.store.reserver", str(db), "dlms:m1", "burst", str(count))
        for _ in range(2)
    ]
    blocks: list[list[int]] = [json.loads(out) for out in await run_together(procs)]
    everything = sorted(blocks[0] + blocks[1])
    # no two blocks share a value: every block starts at least BLOCK after the previous one,
    # and with nobody else reserving they tile the counter space exactly
    assert everything == list(range(0, 2 * count * BLOCK, BLOCK))
    for firsts in blocks:
        assert firsts == sorted(firsts) and len(firsts) == count


async def test_counter_writes_are_fsynced_and_readings_are_not(tmp_path: Path) -> None:
    # per connection, so asked of the store's own two connections: counters FULL (2), the rest
    # NORMAL (1), both in WAL mode
    async with await SqliteStore.open(tmp_path / "s.db") as store:
        modes = []
        for db in (store._counters, store._db):
            async with db.execute("PRAGMA synchronous") as cursor:
                modes.append((await cursor.fetchone() or [None])[0])
        assert modes == [2, 1]

"""Counter reservations on PostgreSQL: head-ends in two processes, and two stores (two pools) in
one, reserving at once never share a value."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from headend.store import PostgresStore
from tests.postgres_server import PostgresServer

from .postgres_reserver import BLOCK

ROOT = Path(__file__).resolve().parents[2]


async def test_two_processes_reserving_at_once_never_overlap(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    await (await PostgresStore.open(url)).close()  # the schema first: both start reserving
    count = 200
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.postgres_reserver",
            url,
            "dlms:m1",
            str(count),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(90):
        for proc in procs:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
        for proc in procs:  # both start together
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        outputs = [await proc.communicate() for proc in procs]
    blocks: list[list[int]] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        blocks.append(json.loads(out))
    # with nobody else reserving, the blocks of both tile the counter space exactly
    assert sorted(blocks[0] + blocks[1]) == list(range(0, 2 * count * BLOCK, BLOCK))
    for firsts in blocks:
        assert firsts == sorted(firsts) and len(firsts) == count


async def test_two_stores_in_one_process_never_share_a_value(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    a, b = await asyncio.gather(PostgresStore.open(url), PostgresStore.open(url))
    try:
        firsts = await asyncio.gather(
            *(store.reserve_counters("k", 7) for _ in range(100) for store in (a, b))
        )
        assert sorted(firsts) == list(range(0, 200 * 7, 7))
        await a.save_counter("k", 5)  # never backwards
        assert await b.load_counter("k") == 1400
        await b.save_counter("k", 2000)
        assert await a.reserve_counters("k", 1) == 2000
    finally:
        await a.close()
        await b.close()

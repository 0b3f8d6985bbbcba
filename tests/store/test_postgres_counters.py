"""Counter reservations on PostgreSQL: head-ends in two processes, and two stores (two pools) in
one, reserving at once never share a value."""

from __future__ import annotations

import asyncio
import json

from headend.store import PostgresStore
from tests.postgres_server import PostgresServer

from .postgres_reserver import BLOCK
from .processes import run_together, spawn


async def test_two_processes_reserving_at_once_never_overlap(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    await (await PostgresStore.open(url)).close()  # the schema first: both start reserving
    count = 200
    procs = [
        await spawn("tests.store.postgres_reserver", url, "dlms:m1", str(count)) for _ in range(2)
    ]
    blocks: list[list[int]] = [json.loads(out) for out in await run_together(procs)]
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

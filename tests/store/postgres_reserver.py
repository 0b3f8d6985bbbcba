"""A process that reserves invocation counter blocks in a real PostgresStore, for the store tests.

    python -m tests.store.postgres_reserver URL KEY COUNT

Prints "ready" once the store is open, waits for a line on stdin (the starting gun), reserves
COUNT blocks of `BLOCK` values and prints their first values as one JSON list. A value is
printed only after `reserve_counters` returned, i.e. after its block was committed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from headend.store import PostgresStore

BLOCK = 256


async def burst(url: str, key: str, count: int) -> None:
    async with await PostgresStore.open(url) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        firsts = [await store.reserve_counters(key, BLOCK) for _ in range(count)]
    print(json.dumps(firsts), flush=True)


if __name__ == "__main__":
    url, key, count = sys.argv[1:4]
    asyncio.run(burst(url, key, int(count)))

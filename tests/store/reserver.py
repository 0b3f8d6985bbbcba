"""A process that reserves invocation counter blocks in a real SqliteStore, for the store tests.

    python -m tests.store.reserver DB KEY loop          # reserve forever, print each first value
    python -m tests.store.reserver DB KEY burst N       # print "ready", wait for a line on stdin,
                                                        # reserve N blocks, print their first values

Each block is `BLOCK` values. A line is printed (and flushed) only after `reserve_counters`
returned, i.e. after the block was committed and fsync'd.
"""

from __future__ import annotations

import asyncio
import json
import sys

from headend.store import SqliteStore

BLOCK = 256


async def loop(db: str, key: str) -> None:
    async with await SqliteStore.open(db) as store:
        while True:
            print(await store.reserve_counters(key, BLOCK), flush=True)


async def burst(db: str, key: str, count: int) -> None:
    async with await SqliteStore.open(db) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the starting gun
        firsts = [await store.reserve_counters(key, BLOCK) for _ in range(count)]
    print(json.dumps(firsts), flush=True)


if __name__ == "__main__":
    db, key, mode = sys.argv[1:4]
    if mode == "loop":
        asyncio.run(loop(db, key))
    else:
        asyncio.run(burst(db, key, int(sys.argv[4])))

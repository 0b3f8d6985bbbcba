"""A process that saves the same events as `test_events` does from another process, one event
per transaction, so two of these interleave their writes.

    python -m tests.store.event_writer DATABASE COUNT    # prints "ready", waits for a line on
                                                         # stdin, saves, prints how many were new
"""

from __future__ import annotations

import asyncio
import sys

from headend.events.model import Event
from headend.store import open_store
from tests.store.samples import meter_event


def events(count: int) -> list[Event]:
    return [meter_event(f"m{i % 7}", 1 + i % 3, minute=i) for i in range(count)]


async def main(database: str, count: int) -> None:
    store = await open_store(database)
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the starting gun
        new = 0
        for event in events(count):
            new += await store.save_events([event])
    finally:
        await store.close()
    print(new, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))

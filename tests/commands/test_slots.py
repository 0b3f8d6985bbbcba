"""The bound on meters commanded at once hands freed slots to the most urgent waiter first, then
in the order they asked, and a waiter cancelled while waiting takes no slot with it."""

from __future__ import annotations

import asyncio

from headend.commands.slots import PrioritySlots


async def test_freed_slots_go_to_the_most_urgent_waiter_first() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with slots.slot(5):
            await release.wait()

    async def waiter(name: str, priority: int) -> None:
        async with slots.slot(priority):
            order.append(name)

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters = [
        asyncio.create_task(waiter(name, priority))
        for name, priority in (("routine", 9), ("urgent", 0), ("normal-1", 5), ("normal-2", 5))
    ]
    cancelled = asyncio.create_task(waiter("cancelled", 0))
    for _ in range(3):
        await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(held, *waiters)
    assert order == ["urgent", "normal-1", "normal-2", "routine"]
    # the one slot came back, and only one
    async with slots.slot(5):
        assert slots._free == 0
    assert slots._free == 1

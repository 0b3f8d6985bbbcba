"""Lane gates (priority handed the slot first), token buckets and the open-files bound."""

from __future__ import annotations

import asyncio
import resource

import pytest

from drivers.channel import LaneGate, TokenBucket, raise_open_files_limit, session_bound


async def test_released_slot_goes_to_priority_waiters_first_fifo_within_a_lane() -> None:
    gate = LaneGate(1)
    await gate.acquire("bulk")
    order: list[str] = []

    async def take(name: str, lane: str) -> None:
        await gate.acquire(lane)  # type: ignore[arg-type]
        order.append(name)
        await asyncio.sleep(0)
        gate.release()

    tasks = [
        asyncio.create_task(take(name, lane))
        for name, lane in (("b1", "bulk"), ("p1", "priority"), ("b2", "bulk"), ("p2", "priority"))
    ]
    await asyncio.sleep(0)
    assert gate.waiting() == 4 and gate.waiting("priority") == 2
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["p1", "p2", "b1", "b2"]
    assert gate.in_use == 0


async def test_cancelled_waiter_leaves_no_hole() -> None:
    gate = LaneGate(1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting() == 0
    gate.release()
    assert gate.in_use == 0
    await asyncio.wait_for(gate.acquire(), 1.0)  # free again, no deadlock
    assert gate.in_use == 1


async def test_capacity_bounds_holders() -> None:
    gate = LaneGate(3)
    peak = 0

    async def hold() -> None:
        nonlocal peak
        await gate.acquire()
        peak = max(peak, gate.in_use)
        await asyncio.sleep(0.001)
        gate.release()

    await asyncio.gather(*(hold() for _ in range(20)))
    assert peak == 3 and gate.in_use == 0


def test_token_bucket_spaces_reservations() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=2.0)
    delays = [bucket.reserve(0.0) for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])
    assert bucket.reserve(10.0) == 0.0  # refilled (up to the burst)


def test_session_bound_follows_the_open_files_limit() -> None:
    assert session_bound(512, open_files=100_000) == 512
    assert session_bound(512, open_files=256) == 256 - 64
    assert session_bound(10, open_files=10) == 1
    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = raise_open_files_limit()
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= before
    if hard != resource.RLIM_INFINITY:
        assert soft == now == hard

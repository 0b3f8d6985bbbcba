"""Invocation counter reservation on the real SqliteStore: strictly increasing, never shared."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from drivers.dlms.client.counters import HEADROOM, RESERVATION, CounterReservation, MemoryCounters
from drivers.errors import ProtocolError
from headend.store import SqliteStore


async def test_a_crashed_session_never_lets_a_counter_repeat(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "c.db") as store:
        first = CounterReservation(store, "k")
        await first.begin()
        assert first.next_client == 0
        # uses 10 counters, then the process dies: finish() is never called
        assert await first.ensure(10) == 10
    async with await SqliteStore.open(tmp_path / "c.db") as store:
        second = CounterReservation(store, "k")
        await second.begin()
        assert second.next_client == RESERVATION


async def test_a_long_session_extends_its_block_without_a_gap(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "c.db") as store:
        session = CounterReservation(store, "k")
        await session.begin()
        near_end = RESERVATION - HEADROOM
        # nobody reserved in between: the next block follows on, the counter does not jump
        assert await session.ensure(near_end) == near_end
        assert session.reserved_until == 2 * RESERVATION
        assert await store.load_counter("k") == 2 * RESERVATION
        await session.finish(near_end + 5, meter_seen=42)
        after = CounterReservation(store, "k")
        await after.begin()
        assert after.next_client == 2 * RESERVATION
        assert after.meter_seen == 42


async def test_two_sessions_to_one_meter_use_disjoint_counters(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "c.db") as store:
        a, b = CounterReservation(store, "k"), CounterReservation(store, "k")
        await a.begin()
        await b.begin()
        used = {"a": [a.next_client], "b": [b.next_client]}
        # both send many requests, alternately; each asks before every request, as the exchange does
        for _ in range(3 * RESERVATION):
            for name, session in (("a", a), ("b", b)):
                used[name].append(await session.ensure(used[name][-1] + 1))
        for values in used.values():
            assert all(x < y for x, y in itertools.pairwise(values))
        assert not set(used["a"]) & set(used["b"])
        # the blocks of one session are not contiguous: it jumped over the other's
        assert max(used["a"]) - min(used["a"]) > len(used["a"])


async def test_a_counter_that_moves_backwards_is_refused() -> None:
    session = CounterReservation(MemoryCounters(), "k")
    await session.begin()
    await session.ensure(5)
    with pytest.raises(ProtocolError, match="backwards"):
        await session.ensure(3)


async def test_memory_counters_reserve_disjoint_blocks() -> None:
    store = MemoryCounters()
    assert await store.reserve_counters("k", 10) == 0
    assert await store.reserve_counters("k", 10) == 10
    await store.save_counter("k", 5)  # the seen-counter path never moves a value back
    assert await store.reserve_counters("k", 1) == 20
    with pytest.raises(ValueError):
        await store.reserve_counters("k", 0)

"""Invocation counter reservation: strictly increasing even when a process never closes."""

from __future__ import annotations

from drivers.dlms.counters import RESERVATION, CounterReservation

from .sqlite_counters import SqliteCounters


async def test_a_crashed_session_never_lets_a_counter_repeat(tmp_path) -> None:
    store = SqliteCounters(tmp_path / "c.db")
    first = CounterReservation(store, "k")
    await first.begin()
    assert first.next_client == 0
    # uses 10 counters, then the process dies: finish() is never called
    await first.ensure(10)
    second = CounterReservation(store, "k")
    await second.begin()
    assert second.next_client >= 10
    assert second.next_client == RESERVATION


async def test_a_long_session_extends_its_reservation(tmp_path) -> None:
    store = SqliteCounters(tmp_path / "c.db")
    session = CounterReservation(store, "k")
    await session.begin()
    await session.ensure(RESERVATION - 1)
    assert await store.load_counter("k") == RESERVATION - 1 + RESERVATION
    await session.finish(RESERVATION + 5, meter_seen=42)
    after = CounterReservation(store, "k")
    await after.begin()
    assert after.next_client > RESERVATION + 5
    assert after.meter_seen == 42

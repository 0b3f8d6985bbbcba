"""Segment and process-wide session limits, checked by counting connections open at once on
logging proxies in front of simulated GPRS meters (wrapper over TCP, one channel each)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from headend.config import ConfigError
from headend.reading import ReadingService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.channel.fleets import fleet_config, gprs, with_port
from tests.channel.wire import Concurrency, HdlcProxy


def in_segment(text: str, segment: str) -> str:
    return text.replace("port = 1\n", f'port = 1\nsegment = "{segment}"\n', 1)


async def read_through_proxies(tmp_path: Path, *parts: str, reading: str = "") -> tuple[int, bool]:
    """(the most connections open at once, every meter read)"""
    config = fleet_config(tmp_path, *parts, reading=reading)
    seen = Concurrency()
    async with simulated_fleet(config) as (sim, served):
        for channel_sim in sim.by_channel.values():
            channel_sim.response_delay_s = 0.02  # sessions long enough to overlap
        async with contextlib.AsyncExitStack() as stack:
            for channel in served.fleet.channels:
                proxy = HdlcProxy(channel.port, concurrency=seen)  # type: ignore[union-attr]
                await stack.enter_async_context(proxy.running())
                served = with_port(served, channel.id, proxy.port)
            store = await stack.enter_async_context(await SqliteStore.open(tmp_path / "r.sqlite3"))
            report = await ReadingService(served, store).run(served.fleet.plan("registers"))
    return seen.peak, report.all_ok


async def test_segment_bounds_sessions_of_its_channels_together(tmp_path: Path) -> None:
    segment = '\n[[segments]]\nid = "cell-1"\nmax_sessions = 2\n'
    parts = [in_segment(gprs(f"g-{i}", f"w-{i}"), "cell-1") for i in range(6)]
    peak, ok = await read_through_proxies(tmp_path, segment, *parts)
    assert ok and 1 <= peak <= 2


async def test_without_limits_gprs_meters_are_read_in_parallel(tmp_path: Path) -> None:
    peak, ok = await read_through_proxies(tmp_path, *(gprs(f"g-{i}", f"w-{i}") for i in range(6)))
    assert ok and peak > 2  # so the bounds above are the limits at work, not an accident


async def test_max_sessions_reads_a_larger_fleet_in_waves(tmp_path: Path) -> None:
    parts = [gprs(f"g-{i}", f"w-{i}") for i in range(6)]
    peak, ok = await read_through_proxies(tmp_path, *parts, reading="max_sessions = 2")
    assert ok and 1 <= peak <= 2


def test_unknown_segment_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"channels\[0\]\.segment: no segment 'cell-9'"):
        fleet_config(tmp_path, in_segment(gprs("g-0", "w-0"), "cell-9"))

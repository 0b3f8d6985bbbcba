"""Our leased limit and clear against a real Gurux server's class 71: Gurux stores what it is
given and leaves threshold_active null (it runs no limiter), so the commands are confirmed on
the thresholds it keeps; the attributes are written in the order a limiter needs (threshold and
group list before the profile that activates them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from drivers.contract import Command, CommandKind
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import open_dlms_session
from tests.interop_gurux.conftest import LIMITER, meter_config, our_settings
from tests.interop_gurux.conftest import counters as counters  # fixtures used below
from tests.interop_gurux.conftest import gurux as gurux
from tests.interop_gurux.test_our_client import Start


async def test_leased_limit_and_clear_on_gurux(gurux: Start, counters: MemoryCounters) -> None:
    config = meter_config("wrapper", "lls")
    server = gurux(config)
    settings = our_settings(server, "wrapper", "lls")
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    leased = Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(900), lease_s=300, time=start)
    async with asyncio.timeout(10):
        async with await open_dlms_session(settings, meter_id="g1", counters=counters) as session:
            limit = await session.execute(leased)
            cleared = await session.execute(Command(kind=CommandKind.CLEAR_LOAD_LIMIT))
    assert limit.ok and "leased for 300 s" in limit.detail, limit.detail
    assert cleared.ok, cleared.detail
    writes = [line for line in config.log if line.startswith(f"write {LIMITER}")]
    # emergency threshold, group list, profile; then normal, group list, emergency threshold
    assert [w.rsplit(":", 1)[1] for w in writes] == ["5", "9", "8", "4", "9", "5"]

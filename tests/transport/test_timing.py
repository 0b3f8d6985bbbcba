"""`sleep_until`: an absolute deadline, never early (the RTU silence and the simulator's pacing
depend on it), with or without a timerfd, and no fd left behind when cancelled. No assertion
here is about how punctual the wake-up is: that depends on the machine."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from drivers.transport import timing
from drivers.transport.timing import precise_timers, sleep_until

DELAYS = (0.0, 0.0004, 0.0013, 0.0036, 0.011)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def never_early() -> None:
    loop = asyncio.get_running_loop()
    for delay in DELAYS:
        deadline = loop.time() + delay
        await sleep_until(deadline)
        assert loop.time() >= deadline


async def test_never_before_the_deadline() -> None:
    await never_early()


async def test_never_early_without_timerfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "_LIBC", None)
    assert not precise_timers()
    await never_early()


async def test_past_deadline_returns() -> None:
    loop = asyncio.get_running_loop()
    await sleep_until(loop.time() - 1.0)
    await sleep_until(loop.time())


async def test_concurrent_waits_each_keep_their_deadline() -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    deadlines = [now + d for d in (0.006, 0.002, 0.004)]
    woke: dict[float, float] = {}

    async def wait(deadline: float) -> None:
        await sleep_until(deadline)
        woke[deadline] = loop.time()

    await asyncio.gather(*(wait(d) for d in deadlines))
    assert all(woke[d] >= d for d in deadlines)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_cancel_leaves_no_fd_or_reader() -> None:
    loop = asyncio.get_running_loop()
    before = open_fds()
    task = asyncio.ensure_future(sleep_until(loop.time() + 60))
    await asyncio.sleep(0)
    if precise_timers():
        assert open_fds() == before + 1  # the armed timerfd
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert open_fds() == before
    # the loop still works normally afterwards
    await sleep_until(loop.time() + 0.001)

"""Replies whose invocation counter is not above the last one seen are replays; keys stay hidden."""

from __future__ import annotations

import asyncio

import pytest

from drivers.errors import ReplayDetected

from .conftest import AUTH_KEY, BLOCK_KEY, Rig


async def test_reply_counter_not_above_the_persisted_one_is_a_replay(rig: Rig):
    settings = await rig.settings("wrapper", "hls")
    # as if an earlier session had already seen the meter at a much higher counter
    await rig.counters.save_counter(settings.counter_key("m1") + ":meter", 10**6)
    with pytest.raises(ReplayDetected) as info:
        async with asyncio.timeout(10):
            await rig.open(settings)
    assert info.value.meter == "m1"


async def test_keys_appear_in_no_repr(rig: Rig):
    settings = await rig.settings("wrapper", "hls")
    async with await rig.open(settings) as session:
        texts = repr(settings) + repr(session.__dict__)
    for key in (AUTH_KEY, BLOCK_KEY):
        assert key.hex() not in texts and repr(key) not in texts

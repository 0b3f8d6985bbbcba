"""Channel leases on a real JetStream key-value bucket (TTL 2 s in these tests)."""

from __future__ import annotations

import asyncio

import pytest

from headend.cluster.connection import Cluster
from headend.cluster.leases import ChannelLeases, LeaseBusy, LeaseLost
from headend.cluster.subjects import token

CHANNEL = "serial:/dev/ttyUSB0"  # not a valid KV key as such: stored under its token


def leases_of(cluster: Cluster) -> ChannelLeases:
    return ChannelLeases(cluster.leases_kv, cluster.settings.lease_ttl_s)


async def test_acquire_conflict_release(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    lease = await leases.acquire(CHANNEL, "w1", "job-1")
    assert lease is not None
    assert await leases.acquire(CHANNEL, "w2", "job-2") is None
    holder = await leases.holder(CHANNEL)
    assert holder is not None
    assert (holder.holder, holder.job_id, holder.reason) == ("w1", "job-1", "channel job")
    assert holder.expires_at > holder.acquired_at
    assert await leases.release(lease)
    assert await leases.holder(CHANNEL) is None
    again = await leases.acquire(CHANNEL, "w2", "job-2")
    assert again is not None and again.record.holder == "w2"


async def test_renew_moves_expiry_and_keeps_it_alive(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    lease = await leases.acquire(CHANNEL, "w1", "job-1")
    assert lease is not None
    first = lease.record.expires_at
    for _ in range(4):  # 2.4 s in all: past the 2 s TTL, alive because renewed
        await asyncio.sleep(0.6)
        await leases.renew(lease)
    assert lease.record.expires_at > first
    holder = await leases.holder(CHANNEL)
    assert holder is not None and holder.holder == "w1"


async def test_a_lease_not_renewed_expires(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    lease = await leases.acquire(CHANNEL, "w1", "job-1")
    assert lease is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # a hang guard: the TTL is 2 s
    while await leases.holder(CHANNEL) is not None:
        assert loop.time() < deadline, "lease never expired"
        await asyncio.sleep(0.2)
    taken = await leases.acquire(CHANNEL, "w2", "job-2")
    assert taken is not None
    with pytest.raises(LeaseLost, match="expired or taken over"):
        await leases.renew(lease)
    # the old holder's release leaves the new holder's lease alone
    assert not await leases.release(lease)
    holder = await leases.holder(CHANNEL)
    assert holder is not None and holder.holder == "w2"


async def test_hold_renews_and_releases(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    async with leases.hold(CHANNEL, "w1", "job-1"):
        await asyncio.sleep(2.5)  # longer than the TTL: renewed in the background
        holder = await leases.holder(CHANNEL)
        assert holder is not None and holder.holder == "w1"
        with pytest.raises(LeaseBusy, match="w1"):
            async with leases.hold(CHANNEL, "w2", "job-2"):
                pass
    assert await leases.holder(CHANNEL) is None


async def test_hold_waits_for_a_holder_that_lets_go(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    first = await leases.acquire(CHANNEL, "w1", "job-1")
    assert first is not None  # never renewed nor released: it expires within the TTL
    async with leases.hold(CHANNEL, "w2", "job-2", wait_s=20) as lease:
        assert lease.record.holder == "w2"


async def test_hold_cancels_the_body_when_the_lease_is_lost(cluster: Cluster) -> None:
    leases = leases_of(cluster)
    body_went_on = False
    with pytest.raises(LeaseLost):
        async with leases.hold(CHANNEL, "w1", "job-1"):
            # someone (an operator) removes the lease: the next renewal finds it gone
            await cluster.leases_kv.purge(token(CHANNEL))
            await asyncio.sleep(30)  # a hang guard: cancelled at the next renewal (~0.7 s)
            body_went_on = True
    assert not body_went_on

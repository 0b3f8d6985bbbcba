"""A cluster scheduler's commands on a half-duplex channel take the channel's lease: while a
worker holds it, the command is not sent; once it is free, the command goes through (a simulated
concentrator, a real nats-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headend.cluster.connection import Cluster, open_cluster
from headend.cluster.leases import ChannelLeases
from headend.cluster.settings import ClusterSettings
from headend.commands.model import CommandState
from headend.reading.channels import channel_registry
from headend.service.leased_commands import LeasedCommandService
from tests.cluster_e2e.support import until
from tests.commands.rig import CONCENTRATED, GPRS, request, rig
from tests.nats_server import NatsServer

TTL_S = 2.0


@pytest.fixture
async def cluster(nats_server: NatsServer) -> AsyncIterator[Cluster]:
    settings = ClusterSettings(nats_url=nats_server.url, lease_ttl_s=TTL_S, heartbeat_s=0.5)
    opened = await open_cluster(settings, "commands", environ={})
    yield opened
    await opened.close()


async def test_a_command_waits_for_a_workers_lease_on_a_half_duplex_channel(
    tmp_path: Path, cluster: Cluster
) -> None:
    leases = ChannelLeases(cluster.leases_kv, TTL_S)
    async with rig(tmp_path) as r:
        service = LeasedCommandService(
            r.live, r.store, channel_registry(r.live.fleet), r.clock,
            leases=leases, holder="scheduler",
        )  # fmt: skip
        try:
            channel = r.live.fleet.meter(CONCENTRATED[0]).channel
            worker_lease = await leases.acquire(channel, "w1", "a bulk job")
            assert worker_lease is not None
            submitted = await service.submit(request(CONCENTRATED[0]))
            seen: list[str] = []

            async def refused_busy() -> bool:
                record = await r.store.command(submitted.id)
                assert record is not None and not record.final
                seen.append(record.detail or "")
                return "channel busy" in seen[-1] and "w1" in seen[-1]

            # still held by the worker (renewed here): every attempt finds the channel busy
            keep = True

            async def busy_and_renewed() -> bool:
                nonlocal keep
                if keep:
                    await leases.renew(worker_lease)
                return await refused_busy()

            await until(busy_and_renewed, "an attempt refused for the worker's lease")
            keep = False
            assert await leases.release(worker_lease)
            final = await service.wait(submitted.id, timeout=120)
            assert final.state is CommandState.CONFIRMED, final.detail
            assert await leases.holder(channel) is None  # the scheduler released it
            # a GPRS meter's channel is not leased: its command never looks at the bucket
            gprs = await service.execute(request(GPRS))
            assert gprs.state is CommandState.CONFIRMED, gprs.detail
            assert await leases.held() == []
        finally:
            await service.close()

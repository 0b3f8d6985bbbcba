"""A real nats-server with JetStream per test (tests/nats_server.py) and cluster settings with
short timings, so leases expire and jobs are redelivered within seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from headend.cluster.connection import Cluster, open_cluster
from headend.cluster.settings import ClusterSettings
from tests.conftest import free_port
from tests.nats_server import NatsServer

SITE = "testsite"


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(free_port(), tmp_path / "nats")
    server.start()
    yield server
    server.remove()


def short_settings(url: str) -> ClusterSettings:
    """Short timings: leases expire and jobs are redelivered within seconds."""
    return ClusterSettings(
        nats_url=url,
        ack_wait_s=2.0,
        max_deliver=3,
        nak_backoff_s=[0.2],
        lease_ttl_s=2.0,
        heartbeat_s=0.5,
        job_timeout_s=60.0,
        fetch_wait_s=0.3,
        connect_timeout_s=10.0,
    )


@pytest.fixture
def settings(nats_server: NatsServer) -> ClusterSettings:
    return short_settings(nats_server.url)


@pytest.fixture
async def cluster(settings: ClusterSettings) -> AsyncIterator[Cluster]:
    opened = await open_cluster(settings, SITE, environ={})
    yield opened
    await opened.close()

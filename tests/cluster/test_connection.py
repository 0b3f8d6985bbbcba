"""Connecting to a real nats-server: streams declared idempotently, credentials from the
environment (and never in an error), clear errors when NATS is unreachable or JetStream is off."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js import api

from headend.cluster.connection import Cluster, ClusterError, open_cluster
from headend.cluster.settings import ClusterSettings
from tests.cluster.conftest import SITE
from tests.conftest import free_port
from tests.nats_server import NatsServer

PASSWORD = "nats-Pa55word!"  # a test value for a throwaway server


async def test_streams_consumers_and_buckets(cluster: Cluster) -> None:
    js = cluster.js
    jobs = await js.stream_info("HEADEND_JOBS")
    assert jobs.config.retention == api.RetentionPolicy.WORK_QUEUE
    assert jobs.config.subjects == [f"headend.{SITE}.jobs.>"]
    assert jobs.config.storage == api.StorageType.FILE
    dead = await js.stream_info("HEADEND_DEAD")
    assert dead.config.retention == api.RetentionPolicy.LIMITS
    assert dead.config.storage == api.StorageType.FILE
    results = await js.stream_info("HEADEND_RESULTS")
    assert results.config.max_age == cluster.settings.results_max_age_s
    for lane in ("bulk", "priority"):
        info = await js.consumer_info("HEADEND_JOBS", f"headend-workers-{lane}")
        assert info.config.filter_subject == f"headend.{SITE}.jobs.{lane}"
        assert info.config.ack_wait == cluster.settings.ack_wait_s
        assert info.config.ack_policy == api.AckPolicy.EXPLICIT
        assert info.config.max_deliver == cluster.settings.max_deliver + 1
    assert (await cluster.leases_kv.status()).ttl == cluster.settings.lease_ttl_s
    assert (await cluster.workers_kv.status()).ttl == cluster.settings.worker_ttl_s


async def test_open_twice_and_with_changed_settings(
    cluster: Cluster, settings: ClusterSettings
) -> None:
    await cluster.js.publish(f"headend.{SITE}.jobs.bulk", b"kept")
    again = await open_cluster(settings, SITE, environ={})
    changed = await open_cluster(
        settings.model_copy(
            update={"ack_wait_s": 7.0, "results_max_age_s": 600.0, "lease_ttl_s": 5.0}
        ),
        SITE,
        environ={},
    )
    try:
        info = await changed.js.consumer_info("HEADEND_JOBS", "headend-workers-bulk")
        assert info.config.ack_wait == 7.0
        assert (await changed.js.stream_info("HEADEND_RESULTS")).config.max_age == 600.0
        assert (await changed.leases_kv.status()).ttl == 5.0
        # declaring again keeps what the stream holds
        assert (await changed.js.stream_info("HEADEND_JOBS")).state.messages == 1
    finally:
        await again.close()
        await changed.close()


async def test_unreachable_names_the_url() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    settings = ClusterSettings(nats_url=url, connect_timeout_s=1.5)
    with pytest.raises(ClusterError, match="cannot connect to NATS at") as caught:
        await open_cluster(settings, SITE, environ={})
    assert url in str(caught.value)


async def test_without_jetstream(tmp_path: Path) -> None:
    server = NatsServer(free_port(), tmp_path / "plain", jetstream=False)
    server.start()
    try:
        with pytest.raises(ClusterError, match="no JetStream"):
            await open_cluster(ClusterSettings(nats_url=server.url), SITE, environ={})
    finally:
        server.remove()


async def test_bad_site_name(settings: ClusterSettings) -> None:
    with pytest.raises(ValueError, match="cannot be part of a NATS subject"):
        await open_cluster(settings, "north.east", environ={})


async def test_credentials_from_the_environment(tmp_path: Path) -> None:
    server = NatsServer(free_port(), tmp_path / "auth", user="headend", password=PASSWORD)
    server.start()
    settings = ClusterSettings(nats_url=server.url, connect_timeout_s=2.0)
    try:
        env = {"HEADEND_NATS_USER": "headend", "HEADEND_NATS_PASSWORD": PASSWORD}
        cluster = await open_cluster(settings, SITE, environ=env)
        await cluster.close()
        with pytest.raises(ClusterError, match="Authorization") as refused:
            await open_cluster(settings, SITE, environ={})
        assert server.url in str(refused.value)
        wrong = {"HEADEND_NATS_USER": "headend", "HEADEND_NATS_PASSWORD": "Wr0ng-" + PASSWORD}
        with pytest.raises(ClusterError) as caught:
            await open_cluster(settings, SITE, environ=wrong)
        assert PASSWORD not in str(caught.value)
    finally:
        server.remove()


async def test_token_from_the_environment(tmp_path: Path) -> None:
    server = NatsServer(free_port(), tmp_path / "token", token="t0ken-" + PASSWORD)
    server.start()
    settings = ClusterSettings(nats_url=server.url, connect_timeout_s=2.0)
    try:
        cluster = await open_cluster(
            settings, SITE, environ={"HEADEND_NATS_TOKEN": "t0ken-" + PASSWORD}
        )
        await cluster.close()
        with pytest.raises(ClusterError) as caught:
            await open_cluster(settings, SITE, environ={"HEADEND_NATS_TOKEN": "wrong-token"})
        assert "wrong-token" not in str(caught.value)
    finally:
        server.remove()

"""Connecting to NATS and declaring what the cluster needs on JetStream, idempotently.

`open_cluster` creates (or updates to the configured values) the jobs work-queue stream with one
durable pull consumer per lane, the dead-letter and results streams, and the two key-value
buckets (channel leases, worker heartbeats). Every process calls it at start: the first creates,
the others find the same configuration. Errors name the URLs, never credentials.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, ServiceUnavailableError
from nats.js.kv import KeyValue

from headend.cluster import subjects
from headend.cluster.settings import ClusterSettings, connect_options

LOG = logging.getLogger(__name__)

_STREAM_IN_USE = 10058  # JetStream: stream name already in use with a different configuration


class ClusterError(Exception):
    """NATS unreachable, refused, or without JetStream; the message names URLs only."""


@dataclass
class Cluster:
    """An open connection with the site's streams, consumers and buckets declared."""

    settings: ClusterSettings
    site: str
    nc: Client
    js: JetStreamContext
    leases_kv: KeyValue
    workers_kv: KeyValue

    async def close(self) -> None:
        if not self.nc.is_closed:
            await self.nc.drain()


async def open_cluster(
    settings: ClusterSettings,
    site: str,
    *,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Cluster:
    """Connect (credentials from `environ`, default os.environ) and declare the site's objects."""
    subjects.check_site(site)
    nc = await _connect(settings, os.environ if environ is None else environ, name)
    try:
        js = nc.jetstream()
        try:
            await js.account_info()
        except (NoRespondersError, ServiceUnavailableError, NatsTimeout, APIError) as exc:
            raise ClusterError(
                f"NATS at {_where(settings)} has no JetStream (start nats-server with -js): "
                f"{type(exc).__name__}"
            ) from None
        await _declare_streams(js, settings, site)
        leases = await _ensure_bucket(
            js, settings.lease_bucket, settings.lease_ttl_s, "channel leases, one holder each"
        )
        workers = await _ensure_bucket(
            js, settings.worker_bucket, settings.worker_ttl_s, "worker heartbeats"
        )
    except BaseException:
        await nc.close()
        raise
    return Cluster(settings, site, nc, js, leases, workers)


def _where(settings: ClusterSettings) -> str:
    return ", ".join(settings.urls)  # the URLs hold no credentials (validated)


async def _connect(
    settings: ClusterSettings, environ: Mapping[str, str], name: str | None
) -> Client:
    options = connect_options(settings, environ)
    seen: dict[str, None] = {}  # distinct errors in order: an auth refusal is often followed
    # by a reset connection, and the refusal is what the operator needs to read

    async def on_error(exc: Exception) -> None:
        # nats-py reports every failed (re)connection here; one line, no traceback, no secrets
        seen[_describe(exc)] = None
        LOG.warning("NATS (%s): %s", _where(settings), _describe(exc))

    async def on_disconnect() -> None:
        if nc.is_closed or nc.is_draining:  # our own close
            return
        LOG.warning("NATS (%s): disconnected, reconnecting", _where(settings))

    async def on_reconnect() -> None:
        LOG.info("NATS (%s): reconnected", _where(settings))

    nc = Client()
    try:
        async with asyncio.timeout(settings.connect_timeout_s):
            await nc.connect(
                **options,
                name=name or "headend",
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                # a NATS restart must not end a worker: reconnect forever, buffering publishes
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=max(1, int(min(settings.connect_timeout_s, 5.0))),
            )
    except (TimeoutError, OSError, NatsError) as exc:
        await nc.close()
        causes = "; ".join(list(seen)[-3:]) or _describe(exc)
        raise ClusterError(
            f"cannot connect to NATS at {_where(settings)} within "
            f"{settings.connect_timeout_s:g} s: {causes}"
        ) from None
    return nc


def _describe(exc: BaseException) -> str:
    # the class and nats' own text ("Authorization Violation", "Connect call failed (...)"):
    # neither holds the password or token the client sent
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _declare_streams(js: JetStreamContext, settings: ClusterSettings, site: str) -> None:
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=settings.stream,
            description=f"channel jobs of site {site}, one subject per lane",
            subjects=[subjects.all_jobs(site)],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            # a re-published job (same job id) within this window is stored once
            duplicate_window=120.0,
        ),
    )
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=settings.dead_letter_stream,
            description=f"channel jobs of site {site} that failed max_deliver times",
            subjects=[subjects.all_dead(site)],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
        ),
    )
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=settings.results_stream,
            description=f"channel reports of site {site}, one subject per job",
            subjects=[subjects.all_results(site)],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=settings.results_max_age_s,
            # the scheduler reads only the latest report of a job
            max_msgs_per_subject=1,
        ),
    )
    for lane in subjects.LANES:
        await js.add_consumer(
            settings.stream,
            api.ConsumerConfig(
                durable_name=subjects.consumer_name(settings.consumer, lane),
                filter_subject=subjects.jobs(site, lane),
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_s,
                # one spare delivery: a worker lost during the last attempt is followed by one
                # that dead-letters the job (see worker.py) instead of leaving it stuck
                max_deliver=settings.max_deliver + 1,
                deliver_policy=api.DeliverPolicy.ALL,
                # a job waits in the stream rather than in a busy worker's buffer
                max_waiting=512,
            ),
        )


async def _ensure_stream(js: JetStreamContext, config: api.StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != _STREAM_IN_USE:
            raise
        await js.update_stream(config)


async def _ensure_bucket(js: JetStreamContext, bucket: str, ttl_s: float, what: str) -> KeyValue:
    """The bucket, created, or with its TTL changed when the configuration changed it."""
    try:
        return await js.create_key_value(
            bucket=bucket, ttl=ttl_s, history=1, storage=api.StorageType.FILE, description=what
        )
    except BadRequestError as exc:
        if exc.err_code != _STREAM_IN_USE:
            raise
    stream = f"KV_{bucket}"  # nats' naming of a bucket's stream
    config = (await js.stream_info(stream)).config
    await js.update_stream(config.evolve(max_age=ttl_s, duplicate_window=min(ttl_s, 120.0)))
    return await js.key_value(bucket)

"""Worker heartbeats in a JetStream key-value bucket, for `headend status`.

Each worker puts a `WorkerBeat` under its id every `heartbeat_s`; the bucket's TTL (three
heartbeats) removes the beat of a worker that stopped beating, so `workers()` lists live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, NoKeysError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headend.cluster.subjects import token

if TYPE_CHECKING:
    from headend.cluster.connection import Cluster

LOG = logging.getLogger(__name__)


class HeldJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    channel_id: str


class WorkerBeat(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    worker_id: str
    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)
    role: str = "worker"
    started_at: datetime
    beat_at: datetime
    jobs_held: list[HeldJob] = Field(default_factory=list)
    jobs_done: int = 0
    jobs_failed: int = 0


async def publish_beat(cluster: Cluster, beat: WorkerBeat) -> None:
    await cluster.workers_kv.put(token(beat.worker_id), beat.model_dump_json().encode())


async def remove_beat(cluster: Cluster, worker_id: str) -> None:
    await cluster.workers_kv.delete(token(worker_id))


async def workers(cluster: Cluster) -> list[WorkerBeat]:
    """The workers that beat within the last three heartbeats, by worker id."""
    kv = cluster.workers_kv
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    beats: list[WorkerBeat] = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # expired between the listing and the read
            continue
        if not entry.value:
            continue
        try:
            beats.append(WorkerBeat.model_validate_json(entry.value))
        except ValidationError:
            LOG.warning("worker bucket: unreadable beat under %s", key)
    return sorted(beats, key=lambda b: b.worker_id)


@contextlib.asynccontextmanager
async def beating(cluster: Cluster, beat: Callable[[], WorkerBeat]) -> AsyncIterator[None]:
    """Publish `beat()` every heartbeat while the body runs; remove it at a graceful end."""

    async def loop() -> None:
        while True:
            try:
                await publish_beat(cluster, beat())
            except (NatsError, TimeoutError) as exc:  # NATS away: the next beat retries
                if cluster.nc.is_closed:  # for good (nats-py may also hide a cancel in this)
                    return
                LOG.warning("heartbeat: %s", type(exc).__name__)
            await asyncio.sleep(cluster.settings.heartbeat_s)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(NatsError, TimeoutError):
            await remove_beat(cluster, beat().worker_id)

"""What `headend status` shows of a cluster: queue depth per lane, workers, leases, dead letters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from headend.cluster import subjects
from headend.cluster.connection import Cluster
from headend.cluster.heartbeats import WorkerBeat, workers
from headend.cluster.leases import ChannelLeases, LeaseRecord


class LaneDepth(BaseModel):
    model_config = ConfigDict(frozen=True)

    lane: str
    waiting: int  # queued, not delivered to any worker yet
    running: int  # delivered, not acknowledged yet


class ClusterStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    site: str
    lanes: list[LaneDepth]
    workers: list[WorkerBeat]
    leases: list[LeaseRecord]
    dead_letters: int


async def cluster_status(cluster: Cluster) -> ClusterStatus:
    settings = cluster.settings
    lanes: list[LaneDepth] = []
    for lane in subjects.LANES:
        info = await cluster.js.consumer_info(
            settings.stream, subjects.consumer_name(settings.consumer, lane)
        )
        lanes.append(
            LaneDepth(lane=lane, waiting=info.num_pending or 0, running=info.num_ack_pending or 0)
        )
    dead = await cluster.js.stream_info(settings.dead_letter_stream)
    return ClusterStatus(
        site=cluster.site,
        lanes=lanes,
        workers=await workers(cluster),
        leases=await ChannelLeases(cluster.leases_kv, settings.lease_ttl_s).held(),
        dead_letters=dead.state.messages,
    )

"""The reading service's channels: specs and the registry built from the fleet configuration."""

from __future__ import annotations

from drivers.channel import ChannelRegistry, ChannelSpec, SegmentSpec, session_bound
from headend.config.fleet import Fleet, TcpChannel
from headend.reading.meter import breaker_policy


def channel_spec(fleet: Fleet, channel_id: str) -> ChannelSpec:
    """What the channel layer needs to know about a configured channel."""
    channel = fleet.channel(channel_id)
    return ChannelSpec(
        channel_id,
        capacity=fleet.concurrency(channel_id),
        half_duplex=fleet.half_duplex(channel_id),
        connect_rate_per_s=channel.connect_rate_per_s if isinstance(channel, TcpChannel) else None,
        segment=channel.segment,
    )


def channel_registry(fleet: Fleet) -> ChannelRegistry:
    """A registry with the fleet's segments, breaker policy and process-wide session bound (the
    open-files limit is raised here, and the bound lowered to what it allows)."""
    policy = fleet.reading
    return ChannelRegistry(
        max_sessions=session_bound(policy.max_sessions),
        breaker=breaker_policy(policy),
        segments={
            s.id: SegmentSpec(s.id, s.max_sessions, s.connect_rate_per_s) for s in fleet.segments
        },
    )

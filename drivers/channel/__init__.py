"""The channel layer: turn, segment and process limits, connection rate and circuit breaker for
the sessions of every protocol (DESIGN.md section 3, "Channels")."""

from drivers.channel.breaker import (
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    channel_failure,
)
from drivers.channel.channel import (
    Channel,
    ChannelRegistry,
    ChannelSpec,
    ChannelStats,
    ObservedSession,
    Segment,
    SegmentSpec,
)
from drivers.channel.fdlimit import raise_open_files_limit, session_bound
from drivers.channel.gate import Lane, LaneGate, TokenBucket

__all__ = [
    "BreakerOpen",
    "BreakerPolicy",
    "BreakerState",
    "Channel",
    "ChannelRegistry",
    "ChannelSpec",
    "ChannelStats",
    "CircuitBreaker",
    "Lane",
    "LaneGate",
    "ObservedSession",
    "Segment",
    "SegmentSpec",
    "TokenBucket",
    "channel_failure",
    "raise_open_files_limit",
    "session_bound",
]

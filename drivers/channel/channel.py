"""Channels: the one component through which every protocol's sessions reach the wire.

A `Channel` is one configured path (a TCP endpoint, a serial port, a concentrator's transparent
channel). It holds the turn (one session at a time on a half-duplex channel, up to `capacity` on
a TCP endpoint), an optional connection rate, its segment's shared limits, the process-wide
session bound, and a circuit breaker. `Channel.session()` takes all of these (channel, segment,
process: always in that order, so waiters cannot deadlock), checks the breaker (open: fail at once
with `BreakerOpen` without touching the wire), opens the driver session, classifies how it ended
for the breaker, and releases everything. Nothing waits for a retry while holding a channel: the
caller takes the turn per attempt.

Channels live in a `ChannelRegistry` owned by whoever runs the sessions (the reading service),
never in a module global, and are used from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drivers.channel.breaker import (
    BreakerOpen,
    BreakerPolicy,
    CircuitBreaker,
    channel_failure,
)
from drivers.channel.gate import Lane, LaneGate, TokenBucket
from drivers.contract import (
    Command,
    CommandResult,
    CounterStore,
    MeterSession,
    PartialRead,
    Point,
    Reading,
)
from drivers.errors import ChannelDown, DriverError, Timeout
from drivers.registry import open_meter_session

if TYPE_CHECKING:
    from drivers.registry import AnySettings

# Openers that talk to the meter before returning (DLMS associates): a session that opened is an
# answer. Modbus and DL/T 645 open lazily, so only a reply to a request counts for them.
_OPEN_ANSWERS = frozenset({"dlms"})


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    id: str
    capacity: int = 1
    half_duplex: bool = True
    connect_rate_per_s: float | None = None
    segment: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    id: str
    max_sessions: int = 16
    connect_rate_per_s: float | None = None


@dataclass(slots=True)
class ChannelStats:
    """What went through a channel (for tests, reports and metrics)."""

    sessions: int = 0  # attempts that went to the wire (opened or tried to)
    opened: int = 0  # driver sessions that opened
    refused: int = 0  # attempts refused at once by the open breaker
    channel_failures: int = 0
    trips: int = 0


class Segment:
    """Limits shared by every channel of one network segment."""

    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self.gate = LaneGate(spec.max_sessions)
        self.rate = TokenBucket(spec.connect_rate_per_s) if spec.connect_rate_per_s else None


class ObservedSession:
    """A driver session that counts the meter's answers (for the breaker's failure rule)."""

    def __init__(self, inner: MeterSession) -> None:
        self.inner = inner
        self.answers = 0

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        try:
            readings = await self.inner.read(points)
        except DriverError as err:
            self._note(err)
            raise
        self.answers += 1
        return readings

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        try:
            rows = await self.inner.read_profile(profile, start, end)
        except DriverError as err:
            self._note(err)
            raise
        self.answers += 1
        return rows

    async def execute(self, command: Command) -> CommandResult:
        try:
            result = await self.inner.execute(command)
        except DriverError as err:
            self._note(err)
            raise
        self.answers += 1
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # protocol-specific extras

    def _note(self, err: DriverError) -> None:
        if isinstance(err, PartialRead):
            if err.readings:
                self.answers += 1
        elif not isinstance(err, (Timeout, ChannelDown)):
            self.answers += 1  # a refusal is an answer: the path works


class Channel:
    def __init__(
        self,
        spec: ChannelSpec,
        *,
        segment: Segment | None,
        process: LaneGate,
        breaker: BreakerPolicy,
    ) -> None:
        self.spec = spec
        self.id = spec.id
        self.turn = LaneGate(1 if spec.half_duplex else spec.capacity)
        self.segment = segment
        self.process = process
        self.rate = TokenBucket(spec.connect_rate_per_s) if spec.connect_rate_per_s else None
        self.breaker = CircuitBreaker(breaker)
        self.stats = ChannelStats()
        self._settled: asyncio.Event | None = None  # set when a half-open probe has an outcome

    def down(self) -> BreakerOpen | None:
        """The error to report when the breaker refuses sessions now, else None."""
        now = asyncio.get_running_loop().time()
        return self._refusal() if self.breaker.blocked(now) else None

    @contextlib.asynccontextmanager
    async def session(
        self,
        settings: AnySettings,
        *,
        meter_id: str,
        counters: CounterStore | None = None,
        lane: Lane = "bulk",
    ) -> AsyncIterator[ObservedSession]:
        """An open driver session on this channel; raises `BreakerOpen` while the channel is
        down (and whatever the driver raises)."""
        refusal = self.down()
        if refusal is not None:
            self.stats.refused += 1
            raise refusal.about(meter=meter_id)
        async with contextlib.AsyncExitStack() as held:
            for gate in self._gates():
                await gate.acquire(lane)
                held.callback(gate.release)
            loop = asyncio.get_running_loop()
            while not self.breaker.allow(loop.time()):
                if not self.breaker.probing:  # it opened while we queued
                    self.stats.refused += 1
                    raise self._refusal().about(meter=meter_id)
                await self._probe_outcome()  # only on a channel with room for several sessions
            for bucket in (self.rate, self.segment.rate if self.segment else None):
                if bucket is not None:
                    await bucket.wait()
            self.stats.sessions += 1
            observed: ObservedSession | None = None
            try:
                session = await open_meter_session(settings, meter_id=meter_id, counters=counters)
                async with session:
                    self.stats.opened += 1
                    observed = ObservedSession(session)
                    if settings.protocol in _OPEN_ANSWERS:
                        observed.answers += 1
                    yield observed
            except BaseException as exc:
                answered = observed is not None and observed.answers > 0
                self._classify(exc, meter_id, answered=answered)
                raise
            else:
                self.breaker.success()
            finally:
                self._settle()

    async def _probe_outcome(self) -> None:
        if self._settled is None:
            self._settled = asyncio.Event()
        await self._settled.wait()

    def _settle(self) -> None:
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    def _gates(self) -> list[LaneGate]:
        gates = [self.turn]
        if self.segment is not None:
            gates.append(self.segment.gate)
        gates.append(self.process)
        return gates

    def _classify(self, exc: BaseException, meter_id: str, *, answered: bool) -> None:
        if channel_failure(exc, answered=answered):
            self.stats.channel_failures += 1
            reason = exc.cause if isinstance(exc, DriverError) else str(exc)
            now = asyncio.get_running_loop().time()
            timeout = isinstance(exc, Timeout)
            if self.breaker.failure(now, reason, meter=meter_id, timeout=timeout):
                self.stats.trips += 1
        elif isinstance(exc, DriverError):
            self.breaker.success()
        else:
            self.breaker.abandon()  # cancelled, or a bug: says nothing about the channel

    def _refusal(self) -> BreakerOpen:
        breaker = self.breaker
        since = _wall(breaker.opened_at)
        until = _wall(breaker.open_until)
        why = f" after {breaker.last_error}" if breaker.last_error else ""
        return BreakerOpen(f"channel {self.id} down since {since}{why}; retry after {until}")


def _wall(loop_time: float | None) -> str:
    if loop_time is None:
        return "now"
    offset = loop_time - asyncio.get_running_loop().time()
    return datetime.fromtimestamp(time.time() + offset, UTC).isoformat(timespec="seconds")


@dataclass
class ChannelRegistry:
    """The channels of one reading service: one `Channel` per id, one `Segment` per id, one
    process-wide session bound."""

    max_sessions: int = 512
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    segments: Mapping[str, SegmentSpec] = field(default_factory=dict)
    process: LaneGate = field(init=False)
    _channels: dict[str, Channel] = field(init=False, default_factory=dict)
    _segments: dict[str, Segment] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.process = LaneGate(self.max_sessions)

    def channel(self, spec: ChannelSpec) -> Channel:
        """The channel for `spec.id` (created on first use with this spec)."""
        channel = self._channels.get(spec.id)
        if channel is None:
            segment = self._segment(spec.segment) if spec.segment else None
            channel = Channel(spec, segment=segment, process=self.process, breaker=self.breaker)
            self._channels[spec.id] = channel
        return channel

    def get(self, channel_id: str) -> Channel | None:
        return self._channels.get(channel_id)

    def _segment(self, segment_id: str) -> Segment:
        segment = self._segments.get(segment_id)
        if segment is None:
            spec = self.segments.get(segment_id) or SegmentSpec(segment_id)
            segment = Segment(spec)
            self._segments[segment_id] = segment
        return segment

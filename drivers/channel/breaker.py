"""A channel's circuit breaker (sans-IO: the caller passes the time) and its failure rule.

States: closed (traffic flows) -> open after `failures` channel-level failures in a row (nothing
is sent until `open_until`) -> half-open (one probe goes through) -> closed when the probe reaches
the meter, open again with a doubled period (capped at `backoff_max_s`) when it fails.

What counts as a channel-level failure (`channel_failure`): the attempt ended with `ChannelDown`
(connect refused, port cannot be opened, peer closed) or `Timeout` (connect timed out, no reply)
*before the meter answered anything*. A `Timeout` counts only when it comes from another meter
than the previous counted failure: one silent meter behind a live concentrator is a meter-level
problem that its own timeout covers, while several distinct meters in a row with no answer at all
mean the path is down. Any attempt in which a meter answered (even with a refusal) closes the
breaker and resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import ChannelDown, DriverError, Timeout


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerOpen(ChannelDown):
    """Refused without touching the wire: the channel's breaker is open."""


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 3
    backoff_s: float = 30.0
    backoff_max_s: float = 600.0


def channel_failure(err: BaseException, *, answered: bool) -> bool:
    """Whether an attempt's error is evidence against the channel (see the module docstring)."""
    if answered or isinstance(err, BreakerOpen) or not isinstance(err, DriverError):
        return False
    return isinstance(err, (ChannelDown, Timeout))


class CircuitBreaker:
    """State that says why and until when: `last_error`, `opened_at`, `open_until`."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self.state = BreakerState.CLOSED
        self.consecutive = 0  # channel-level failures in a row
        self.trips = 0  # opens without a success in between (for the exponential period)
        self.opened_at: float | None = None
        self.open_until: float | None = None
        self.last_error: str | None = None
        self._last_meter: str | None = None
        self._probing = False

    def allow(self, now: float) -> bool:
        """May a session start now? In half-open state only one probe is let through."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.open_until is not None and now < self.open_until:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def blocked(self, now: float) -> bool:
        """Is the channel down now (open, its period not over)? No state change. A half-open
        channel with its probe out is not down: callers wait for the probe's outcome."""
        if self.state is BreakerState.OPEN:
            return self.open_until is None or now < self.open_until
        return False

    @property
    def probing(self) -> bool:
        """Half-open with the probe out: the next caller must wait for its outcome."""
        return self.state is BreakerState.HALF_OPEN and self._probing

    def success(self) -> None:
        """A meter answered on this channel: close and forget the failures."""
        self.state = BreakerState.CLOSED
        self.consecutive = 0
        self.trips = 0
        self.opened_at = self.open_until = None
        self._last_meter = None
        self._probing = False

    def abandon(self) -> None:
        """An attempt ended without evidence either way (cancelled, a bug): free the probe."""
        self._probing = False

    def failure(self, now: float, reason: str, *, meter: str | None, timeout: bool) -> bool:
        """Record a channel-level failure; returns True when this opened the breaker."""
        self.last_error = reason
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return True
        if self.state is BreakerState.OPEN:
            return False
        if timeout and meter is not None and meter == self._last_meter:
            return False  # the same silent meter again: its own problem, not the channel's
        self._last_meter = meter
        self.consecutive += 1
        if self.consecutive >= self.policy.failures:
            self._open(now)
            return True
        return False

    def _open(self, now: float) -> None:
        period = min(self.policy.backoff_s * 2**self.trips, self.policy.backoff_max_s)
        self.trips += 1
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.open_until = now + period
        self._probing = False

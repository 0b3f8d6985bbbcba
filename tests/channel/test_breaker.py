"""The circuit breaker (sans-IO, time passed in) and its channel-level failure rule."""

from __future__ import annotations

from drivers.channel import (
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    channel_failure,
)
from drivers.errors import AuthenticationFailed, ChannelDown, DriverError, Timeout


def test_opens_after_consecutive_failures_and_says_why_and_until_when() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=3, backoff_s=10, backoff_max_s=100))
    assert not breaker.failure(0.0, "refused", meter="a", timeout=False)
    assert not breaker.failure(1.0, "refused", meter="b", timeout=False)
    assert breaker.allow(1.5)
    assert breaker.failure(2.0, "connection refused", meter="c", timeout=False)
    assert breaker.state is BreakerState.OPEN
    assert (breaker.opened_at, breaker.open_until) == (2.0, 12.0)
    assert breaker.last_error == "connection refused"
    assert not breaker.allow(11.9) and breaker.blocked(11.9)


def test_half_open_lets_one_probe_through_and_backs_off_exponentially() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=1, backoff_s=10, backoff_max_s=25))
    breaker.failure(0.0, "down", meter="a", timeout=False)
    assert breaker.allow(10.0)  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(10.0) and breaker.probing  # only one; the others wait for it
    assert not breaker.blocked(10.0)  # not down while the probe is out
    breaker.failure(11.0, "still down", meter="a", timeout=False)
    assert breaker.open_until == 31.0  # 20 s: doubled
    assert breaker.allow(31.0)
    breaker.failure(31.0, "still down", meter="a", timeout=False)
    assert breaker.open_until == 56.0  # capped at 25 s
    assert breaker.allow(56.0)
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.open_until is None
    breaker.failure(60.0, "down", meter="a", timeout=False)
    assert breaker.open_until == 70.0  # a success resets the period


def test_abandoned_probe_frees_the_half_open_slot() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=1, backoff_s=1))
    breaker.failure(0.0, "down", meter="a", timeout=False)
    assert breaker.allow(2.0)
    breaker.abandon()
    assert breaker.allow(2.0)


def test_one_silent_meter_does_not_open_it_but_several_distinct_ones_do() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=3))
    for t in range(10):
        assert not breaker.failure(float(t), "no reply", meter="silent", timeout=True)
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive == 1
    breaker.failure(11.0, "no reply", meter="b", timeout=True)
    assert breaker.failure(12.0, "no reply", meter="c", timeout=True)
    assert breaker.state is BreakerState.OPEN


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=2))
    breaker.failure(0.0, "down", meter="a", timeout=False)
    breaker.success()
    assert not breaker.failure(1.0, "down", meter="b", timeout=False)
    assert breaker.state is BreakerState.CLOSED


def test_failure_rule() -> None:
    assert channel_failure(ChannelDown("refused"), answered=False)
    assert channel_failure(Timeout("connect timed out"), answered=False)
    # the meter answered in that session: the path works
    assert not channel_failure(ChannelDown("closed by peer"), answered=True)
    assert not channel_failure(Timeout("no reply"), answered=True)
    # a refusal, a generic error, a refusal by our own breaker, a bug: not channel evidence
    assert not channel_failure(AuthenticationFailed("wrong key"), answered=False)
    assert not channel_failure(DriverError("budget"), answered=False)
    assert not channel_failure(BreakerOpen("down"), answered=False)
    assert not channel_failure(RuntimeError("bug"), answered=False)

"""The lease book (send, renew at half the lease, release, expiry, failure) and the forecasts
(damped rising trend, households scaled to the feeder, censored demand estimated upwards)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from headend.load.forecast import FeederForecast, estimate_demands
from headend.load.leases import LeaseAction, LeaseBook
from tests.load.harness import T0

LEASE = timedelta(minutes=15)


def test_lease_lifecycle() -> None:
    book = LeaseBook(LEASE)
    sent = book.decide("a", 2000, T0, source="allocation", reason="overload")
    assert sent is not None and sent.action is LeaseAction.LIMIT
    assert sent.expires_at == T0 + LEASE
    assert str(sent) == f"limit 2000 W for a until {(T0 + LEASE).isoformat()}: overload"
    # More than half left: nothing; less than half: renewed for a whole lease from now.
    assert (
        book.decide("a", 2000, T0 + timedelta(minutes=7), source="allocation", reason="x") is None
    )
    at = T0 + timedelta(minutes=8)
    renewed = book.decide("a", 2000, at, source="allocation", reason="overload")
    assert renewed is not None and renewed.action is LeaseAction.RENEW
    assert renewed.expires_at == at + LEASE
    changed = book.decide("a", 1500, at, source="allocation", reason="deeper")
    assert changed is not None and changed.action is LeaseAction.LIMIT
    assert changed.why == "deeper (was 2000 W)"
    lease = book.get("a")
    assert lease is not None and lease.limit_w == 1500 and lease.reason == "deeper"
    released = book.decide("a", None, at, source="allocation", reason="load fell")
    assert released is not None and released.action is LeaseAction.RELEASE
    assert book.decide("a", None, at, source="allocation", reason="load fell") is None


def test_expired_lease_is_forgotten_and_sent_anew() -> None:
    book = LeaseBook(LEASE)
    book.decide("a", 2000, T0, source="allocation", reason="r")
    assert set(book.in_force(T0 + LEASE - timedelta(seconds=1))) == {"a"}
    assert book.in_force(T0 + LEASE) == {}
    again = book.decide("a", 2000, T0 + LEASE, source="allocation", reason="r")
    assert again is not None and again.action is LeaseAction.LIMIT
    # An expired limit needs no release: the meter has dropped it already.
    book2 = LeaseBook(LEASE)
    book2.decide("a", 2000, T0, source="allocation", reason="r")
    assert book2.decide("a", None, T0 + LEASE, source="allocation", reason="r") is None


def test_feeder_forecast_follows_a_rise_and_holds_a_fall_flat() -> None:
    forecast = FeederForecast(damping=0.5)
    assert forecast.forecast() is None
    forecast.observe(10)
    assert forecast.forecast() == 10
    forecast.observe(12)
    assert forecast.forecast() == 13
    forecast.observe(14)
    assert forecast.forecast() == 15  # mean step 2 over the window, damped by half
    forecast.observe(8)
    assert forecast.forecast() == 8


def test_households_are_scaled_to_the_feeder_forecast() -> None:
    usage = {"a": 1.0, "b": 3.0, "pv": -2.0}
    out = estimate_demands(["a", "b", "pv", "unread"], usage, 6.0, {})
    # The unread household is taken as the mean import (2 kW); imports 6 kW scaled to 8 kW so
    # that with the 2 kW export the net total is the forecast 6 kW.
    assert out == pytest.approx({"a": 4 / 3, "b": 4.0, "pv": -2.0, "unread": 8 / 3})
    assert sum(out.values()) == pytest.approx(6.0)


def test_scaling_is_bounded() -> None:
    out = estimate_demands(["a"], {"a": 1.0}, 100.0, {})
    assert out == {"a": 2.0}


def test_a_household_at_its_limit_is_estimated_upwards() -> None:
    out = estimate_demands(
        ["a", "b", "off"], {"a": 2.0, "b": 1.0}, None, {"a": 2.0, "b": 2.0}, off={"off"}
    )
    assert out["a"] == pytest.approx(2.4)  # pressing on its limit: at least 1.2 x the limit
    assert out["b"] == 1.0  # well under its limit: its use is its demand
    assert out["off"] == 0.0
    stepped = estimate_demands(["a"], {"a": 2.0}, None, {"a": 2.0}, censor_step_kw=1.0)
    assert stepped["a"] == 3.0


def test_without_any_reading_the_feeder_load_is_shared_evenly() -> None:
    out = estimate_demands(["a", "b", "c", "pv"], {"pv": -1.0}, 8.0, {})
    assert out == pytest.approx({"a": 3.0, "b": 3.0, "c": 3.0, "pv": -1.0})
    assert estimate_demands(["a"], {}, None, {}) == {"a": 0.0}

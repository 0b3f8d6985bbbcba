"""Property: billing a period in two parts prices the same energy as billing it whole.

Splitting the determinants in time (same kWh per period in total) may change the energy lines'
sum only by rounding: each line is off by at most half a cent under a half-up rule, so the two
parts and the whole differ by at most half a cent per line involved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.bill.compute import compute_bill
from billing.bill.model import Bill
from billing.period import BillingPeriod
from tests.billing.bill.bill_rig import det, example

SIM = example("sim-tou")  # four periods, half-up, UTC
CN = example("cn-residential-tou")  # four periods, annual tier adders, half-up, Shanghai
HALF_CENT = Decimal("0.005")

kwh_values = st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False)
fractions = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False)


def priced(bill: Bill, kinds: set[str]) -> tuple[Decimal, int]:
    lines = [line for line in bill.lines if line.kind in kinds]
    return sum((line.amount for line in lines), Decimal(0)), len(lines)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    totals=st.lists(kwh_values, min_size=4, max_size=4),
    shares=st.lists(fractions, min_size=4, max_size=4),
    split_day=st.integers(min_value=2, max_value=31),
)
def test_splitting_never_changes_the_energy_lines_beyond_rounding(
    totals: list[Decimal], shares: list[Decimal], split_day: int
) -> None:
    period = BillingPeriod.month("2026-10")
    middle = datetime(2026, 10, split_day, tzinfo=UTC)
    names = SIM.period_names
    first = {
        n: (t * s).quantize(Decimal("0.001")) for n, t, s in zip(names, totals, shares, strict=True)
    }
    second = {n: t - first[n] for n, t in zip(names, totals, strict=True)}
    whole = dict(zip(names, totals, strict=True))
    a = compute_bill(SIM, det(period.start, middle, first), period)
    b = compute_bill(SIM, det(middle, period.end, second), period)
    w = compute_bill(SIM, det(period.start, period.end, whole), period)
    (sum_a, n_a), (sum_b, n_b), (sum_w, n_w) = (priced(x, {"energy"}) for x in (a, b, w))
    assert abs(sum_a + sum_b - sum_w) <= HALF_CENT * (n_a + n_b + n_w)
    # the daily standing charge splits exactly: whole days at 0.42
    assert priced(a, {"fixed"})[0] + priced(b, {"fixed"})[0] == priced(w, {"fixed"})[0]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    totals=st.lists(kwh_values, min_size=4, max_size=4),
    shares=st.lists(fractions, min_size=4, max_size=4),
    prior=st.decimals(min_value=0, max_value=6000, places=3, allow_nan=False),
    split_day=st.integers(min_value=2, max_value=31),
)
def test_annual_tiers_split_the_same_when_the_prior_carries_over(
    totals: list[Decimal], shares: list[Decimal], prior: Decimal, split_day: int
) -> None:
    period = BillingPeriod.month("2026-10", "Asia/Shanghai")
    middle = datetime(2026, 10, split_day, tzinfo=period.zone)
    names = CN.period_names
    first = {
        n: (t * s).quantize(Decimal("0.001")) for n, t, s in zip(names, totals, shares, strict=True)
    }
    second = {n: t - first[n] for n, t in zip(names, totals, strict=True)}
    whole = dict(zip(names, totals, strict=True))
    first_total = sum(first.values(), Decimal(0))
    a = compute_bill(CN, det(period.start, middle, first, tier_prior_kwh=str(prior)), period)
    b = compute_bill(
        CN, det(middle, period.end, second, tier_prior_kwh=str(prior + first_total)), period
    )
    w = compute_bill(CN, det(period.start, period.end, whole, tier_prior_kwh=str(prior)), period)
    kinds = {"energy", "tier"}
    (sum_a, n_a), (sum_b, n_b), (sum_w, n_w) = (priced(x, kinds) for x in (a, b, w))
    assert abs(sum_a + sum_b - sum_w) <= HALF_CENT * (n_a + n_b + n_w)

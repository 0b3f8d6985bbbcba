"""MoneyRule: ISO 4217 currency, minor units, and each rounding rule on both signs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.money import MoneyRule


@pytest.mark.parametrize(
    ("rounding", "positive", "negative"),
    [
        # 2.345 lies halfway between 2.34 and 2.35
        ("half-up", "2.35", "-2.35"),  # halves away from zero
        ("half-even", "2.34", "-2.34"),  # halves to the even cent (4)
        ("down", "2.34", "-2.34"),  # towards zero
        ("up", "2.35", "-2.35"),  # away from zero
        ("floor", "2.34", "-2.35"),  # towards -infinity
        ("ceiling", "2.35", "-2.34"),  # towards +infinity
    ],
)
def test_each_rounding_rule(rounding: str, positive: str, negative: str) -> None:
    rule = MoneyRule(currency="EUR", rounding=rounding)  # type: ignore[arg-type]
    assert str(rule.round(Decimal("2.345"))) == positive
    assert str(rule.round(Decimal("-2.345"))) == negative


def test_minor_units_and_no_negative_zero() -> None:
    yen = MoneyRule(currency="JPY", minor_units=0)
    assert str(yen.round(Decimal("2.5"))) == "3"  # half-up to a whole yen
    assert (
        str(MoneyRule(currency="JPY", minor_units=0, rounding="half-even").round(Decimal("2.5")))
        == "2"
    )
    dinar = MoneyRule(currency="KWD", minor_units=3)
    assert str(dinar.round(Decimal("1.23456"))) == "1.235"
    # a credit that rounds to nothing is 0.00, not -0.00
    assert str(MoneyRule(currency="EUR").round(Decimal("-0.004"))) == "0.00"
    assert MoneyRule(currency="CNY").format(Decimal("12.345")) == "12.35 CNY"


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", ""])
def test_currency_must_be_three_capitals(currency: str) -> None:
    with pytest.raises(ValidationError):
        MoneyRule(currency=currency)


def test_unknown_rounding_refused() -> None:
    with pytest.raises(ValidationError):
        MoneyRule(currency="EUR", rounding="bankers")  # type: ignore[arg-type]

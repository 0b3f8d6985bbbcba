"""Money in billing: `Decimal` amounts in an ISO 4217 currency, rounded to its minor unit by a rule.

Every bill line is rounded by the tariff's `MoneyRule`; a bill's total is the sum of its rounded
lines, so the printed lines always add up to the printed total.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rounding = Literal["half-up", "half-even", "down", "up", "floor", "ceiling"]

# "down" and "up" are towards and away from zero (a credit of -0.015 rounds "down" to -0.01), as
# decimal.ROUND_DOWN/ROUND_UP do; "floor"/"ceiling" go towards -inf/+inf for a rule that must never
# favour one side whatever the sign.
_DECIMAL_ROUNDING = {
    "half-up": ROUND_HALF_UP,
    "half-even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
    "floor": ROUND_FLOOR,
    "ceiling": ROUND_CEILING,
}


class MoneyRule(BaseModel):
    """A currency and how an amount is rounded to its minor unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY, EUR")
    minor_units: int = Field(default=2, ge=0, le=4, description="digits after the point")
    rounding: Rounding = "half-up"

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.minor_units)

    def round(self, amount: Decimal) -> Decimal:
        """`amount` rounded to the minor unit by the rule; -0 is returned as 0."""
        rounded = amount.quantize(self.quantum, rounding=_DECIMAL_ROUNDING[self.rounding])
        return rounded + 0 if rounded.is_zero() else rounded

    def format(self, amount: Decimal) -> str:
        return f"{self.round(amount)} {self.currency}"

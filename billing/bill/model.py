"""A bill: line items priced from determinants by a tariff, in `Decimal` money.

A bill is a pure function of (tariff, determinants): re-running it for the same data gives the
same bill, the same `bill_id` and the same line items.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

LineKind = Literal[
    "energy",  # import energy at a (time-of-use) rate
    "tier",  # tiered block pricing: a block's energy at its price or adder
    "demand",  # demand charge on maximum demand
    "fixed",  # daily or monthly fixed charge
    "export",  # export credit (net billing): negative amount
    "net",  # net metering: import minus export, priced at the import rates
    "adjustment",  # anything else the tariff names
]


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: LineKind
    description: str  # what a customer reads, e.g. "Energy, peak, 123.456 kWh at 0.9800"
    tariff_period: str | None = None  # the time-of-use period or block this line prices
    quantity: Decimal  # kWh, kW, days or months
    unit: str  # "kWh", "kW", "day", "month"
    rate: Decimal  # currency per unit
    amount: Decimal  # currency, already rounded by the tariff's rule (negative for credits)


class Bill(BaseModel):
    model_config = ConfigDict(frozen=True)

    bill_id: str  # deterministic: meter, period and a digest of tariff and determinants
    meter_id: str
    period: str  # "2026-10"
    period_start: datetime
    period_end: datetime
    tariff_id: str
    tariff_digest: str  # sha-256 of the tariff as loaded (a changed tariff gives a new bill id)
    currency: str  # ISO 4217, e.g. "CNY", "EUR"
    lines: list[LineItem]
    total: Decimal  # sum of the lines' amounts (each already rounded)
    import_kwh: Decimal
    export_kwh: Decimal
    source: Literal["registers", "intervals"]
    quality: str  # worst Flag of the inputs: actual | estimated | substituted | suspect
    estimated_kwh: Decimal
    notes: list[str] = []

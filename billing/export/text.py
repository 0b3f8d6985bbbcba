"""How numbers and instants are spelled in export files: exact decimals, never an exponent, and
UTC instants in ISO 8601 with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """The exact value in plain notation (`str` would write 1E+1 or 1E-7 for some values)."""
    text = str(value)
    if "E" in text:
        text = format(value, "f")
    return text


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_seconds(at: datetime) -> int:
    return int(at.timestamp())

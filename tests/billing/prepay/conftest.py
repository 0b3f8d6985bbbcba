"""Shared pieces of the smart-payment tests: settings with round thresholds."""

from __future__ import annotations

from typing import Any

from billing.prepay.settings import PrepaySettings


def prepay_settings(**fields: Any) -> PrepaySettings:
    """Thresholds (EUR): first alarm 10, second alarm 5, disconnect -2 (2 EUR overdraft),
    reconnect 5, cap 200, opening balance 20, emergency credit 5."""
    values: dict[str, Any] = {
        "meters": ["m1"],
        "opening_balance": "20.00",
        "first_alarm_balance": "10.00",
        "second_alarm_balance": "5.00",
        "disconnect_balance": "-2.00",
        "reconnect_balance": "5.00",
        "max_credit": "200.00",
        "emergency_credit": "5.00",
    }
    values.update(fields)
    return PrepaySettings.model_validate(values)


# billing_url and billing_db: tests/billing/conftest.py (SQLite, then PostgreSQL)

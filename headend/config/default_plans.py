"""The service's default reading plans, shipped in `config/demo.toml` and in generated fleets.

Schedules are UTC. Profile plans start each meter's read at the last capture stored for it
(bounded by `horizon`); `profile_window` is for a meter never read. See config/demo.toml for the
commented TOML of the same plans (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

LOAD_PROFILE = "1.0.99.1.0.255"
DAILY_VALUES = "1.0.99.2.0.255"
BILLING_PERIOD_VALUES = "0.0.98.1.0.255"
CLOCK = "0.0.1.0.0.255"
EVENT_LOGS = ["0.0.99.98.0.255", "0.0.99.98.1.255", "0.0.99.98.2.255"]
BILLING_REGISTERS = [
    "1.0.1.8.0.255",
    "1.0.1.8.1.255",
    "1.0.1.8.2.255",
    "1.0.1.8.3.255",
    "1.0.1.8.4.255",
    "1.0.2.8.0.255",
    CLOCK,
]
INSTANTANEOUS = ["1.0.1.7.0.255", "1.0.2.7.0.255", "1.0.32.7.0.255", "1.0.31.7.0.255"]

DEFAULT_PLANS: list[dict[str, Any]] = [
    {
        "name": "load-profile",
        "profile": LOAD_PROFILE,
        "profile_window": "PT1H",
        "horizon": "P7D",
        "schedule": "every 15 minutes",
    },
    {
        "name": "daily-billing",
        "points": BILLING_REGISTERS,
        "profile": DAILY_VALUES,
        "profile_window": "P1D",
        "horizon": "P3D",
        "event_logs": EVENT_LOGS,
        "schedule": "daily at 00:05",
    },
    {
        "name": "monthly-billing",
        "profile": BILLING_PERIOD_VALUES,
        "profile_window": "P32D",
        "horizon": "P93D",
        "schedule": "monthly on day 1 at 00:10",
    },
    {
        "name": "clock-check",
        "points": [CLOCK],
        "clock_sync_beyond_s": 30,
        "rereads": 1,
        "schedule": "daily at 03:00",
    },
    {
        "name": "instantaneous",
        "points": INSTANTANEOUS,
        "rereads": 0,
        "schedule": "every 5 minutes",
    },
]

"""Pieces of the tariff files the billing tests write (TOML text): the parts several of their
tariffs share, so that each test's tariff spells out only what is its own."""

from __future__ import annotations

# euros to the cent, half-up: how the hand-worked end-to-end bills are rounded
EUR_CENTS = """
[money]
currency = "EUR"
minor_units = 2
rounding = "half-up"
"""

# every weekday: night 23:00-07:00, day 07:00-17:00, peak 17:00-21:00, shoulder 21:00-23:00
FOUR_PERIODS = """
[periods]
weekday = [
    { period = "night", start = "23:00", end = "07:00" },
    { period = "day", start = "07:00", end = "17:00" },
    { period = "peak", start = "17:00", end = "21:00" },
    { period = "shoulder", start = "21:00", end = "23:00" },
]
"""

# three tiers: up to 2,760 kWh at 0, to 4,800 kWh at 0.05, above at 0.30
THREE_TIERS = """
[[tiers]]
up_to_kwh = 2760
rate = 0

[[tiers]]
up_to_kwh = 4800
rate = 0.05

[[tiers]]
rate = 0.30
"""

"""The quantity family (InfluxDB measurement) of OBIS codes from all three drivers."""

from __future__ import annotations

import pytest

from headend.sinks.families import obis_family


@pytest.mark.parametrize(
    ("obis", "family"),
    [
        ("1.0.1.8.0.255", "energy"),  # active energy import, total
        ("1.0.2.8.1.255", "energy"),  # export, tariff 1
        ("1.0.21.8.0.255", "energy"),  # import L1
        ("1.0.3.8.0.255", "energy"),  # reactive energy
        ("1.0.1.29.0.255", "energy"),  # energy over a capture period (load profile)
        ("1.0.1.7.0.255", "power"),  # instantaneous active power
        ("1.0.41.7.0.255", "power"),  # L2
        ("1.0.9.7.0.255", "power"),  # apparent power
        ("1.0.1.6.0.255", "power"),  # maximum demand
        ("1.0.1.4.0.255", "power"),  # current average demand
        ("1.0.32.7.0.255", "voltage"),
        ("1.0.72.7.0.255", "voltage"),
        ("1.0.12.7.0.255", "voltage"),
        ("1.0.31.7.0.255", "current"),
        ("1.0.91.7.0.255", "current"),  # neutral
        ("1.0.13.7.0.255", "power_factor"),
        ("1.0.33.7.0.255", "power_factor"),
        ("1.0.14.7.0.255", "frequency"),
        ("0.0.1.0.0.255", "other"),  # clock
        ("0.0.96.1.0.255", "other"),  # serial number
        ("1.0.0.9.1.255", "other"),  # general purpose (time)
        ("1.0.96.5.0.255", "other"),  # status word
        ("7.0.3.0.0.255", "other"),  # gas volume: another medium
        ("not an obis", "other"),
    ],
)
def test_family(obis: str, family: str):
    assert obis_family(obis) == family

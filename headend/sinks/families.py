"""Quantity family of an OBIS code (the InfluxDB measurement a reading goes to).

Electricity codes (A = 1) name the quantity in group C and how it is processed in group D:
C 1-10, 15, 16 (active/reactive/apparent power by direction or quadrant) with a time-integral D
(8, 9, 10, 17-20, 29, 30, 58) is an energy register or profile value; with any other D
(instantaneous 7, averages 4/5, demand maxima 6, ...) it is a power. The same C plus 20, 40, 60
is the quantity of phase L1, L2, L3. Voltage, current, power factor and frequency have their own
C codes. Everything else (clock, identifiers, status words, other media) is `other`.
"""

from __future__ import annotations

from typing import Literal

Family = Literal["energy", "power", "voltage", "current", "frequency", "power_factor", "other"]

# C group of the total (all phases); L1, L2, L3 are C + 20, 40, 60.
_POWERS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16})
_BY_C: dict[int, Family] = {11: "current", 12: "voltage", 13: "power_factor", 14: "frequency"}
_TIME_INTEGRALS = frozenset({8, 9, 10, 17, 18, 19, 20, 29, 30, 58})
_NEUTRAL_CURRENT = 91  # and 90: the sum of the phase currents
_PHASE_OFFSETS = (0, 20, 40, 60)


def _table() -> dict[int, Family | None]:
    """Family by C group; None for a power quantity, whose family depends on D."""
    table: dict[int, Family | None] = {}
    for offset in _PHASE_OFFSETS:
        for c in _POWERS:
            table[c + offset] = None
        for c, family in _BY_C.items():
            table[c + offset] = family
    table[90] = "current"
    table[_NEUTRAL_CURRENT] = "current"
    return table


_TABLE = _table()


def obis_family(obis: str) -> Family:
    """The family of a canonical dotted OBIS code such as `1.0.1.8.0.255`."""
    groups = obis.split(".")
    if len(groups) != 6 or groups[0] != "1":
        return "other"
    try:
        c, d = int(groups[2]), int(groups[3])
    except ValueError:
        return "other"
    if c not in _TABLE:
        return "other"
    family = _TABLE[c]
    if family is not None:
        return family
    return "energy" if d in _TIME_INTEGRALS else "power"

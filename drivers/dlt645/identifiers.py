"""The data identifiers (DI3 DI2 DI1 DI0) this driver reads, and the OBIS code each one feeds.

DIs are written here as the standard prints them (`00 01 00 00` = 0x00010000) and go on the wire
DI0 first. Values are converted to the units our readings use everywhere (DLMS meters report Wh):
energy kWh -> Wh and power kW -> W (x 1000, exact in Decimal); voltage V and current A unchanged.

The meter's signed total active power (`02 03 00 00`, positive = import) feeds three OBIS codes:
1.0.16.7.0.255 (signed, as read), 1.0.1.7.0.255 (import part) and 1.0.2.7.0.255 (export part).

History is read as two profiles, each row keyed by its capture time and carrying the forward
total 1.0.1.8.0.255, forward tariffs 1.0.1.8.1..4.255 and the reverse total 1.0.2.8.0.255:
- daily freezes `05 06 00 nn` (time), `05 06 01 nn` / `05 06 02 nn` (forward / reverse energy
  blocks: total, then tariff 1..4), nn = 1..62, as profile 1.0.99.2.0.255;
- settlement-day data `00 01 0t nn` / `00 02 00 nn` (forward tariff t = 0 total, 1..4; reverse
  total) of the nn-th last settlement, nn = 1..12, as the billing profile 0.0.98.1.0.255. The
  standard stores no time with them: the n-th last settlement is the n-th last occurrence of the
  first settlement day of the month (`04 00 0B 01`, DDhh; 1st 00:00 when unset) by the meter's
  clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from drivers.contract import Point
from drivers.obis import normalize_obis


class Part(StrEnum):
    """Which part of a signed value an OBIS code takes."""

    ALL = "all"
    POSITIVE = "positive"  # max(v, 0): import
    NEGATIVE = "negative"  # max(-v, 0): export


@dataclass(frozen=True, slots=True)
class DataItem:
    di: int  # DI3..DI0 as printed in the standard, e.g. 0x00010000
    obis: str
    size: int  # bytes of this value on the wire
    decimals: int  # fixed decimals of the BCD value
    wire_unit: str
    unit: str  # unit of our Reading after conversion
    scale: Decimal  # wire value x scale = value in `unit`
    signed: bool = False
    offset: int = 0  # byte offset inside the DI's reply data (items of a data block)
    part: Part = Part.ALL
    stamp_di: int | None = None  # DI whose date-time is the capture time (frozen data)
    text: str = ""


def di_wire(di: int) -> bytes:
    """DI3..DI0 -> the 4 bytes sent on the wire, DI0 first (before the +0x33 offset)."""
    return di.to_bytes(4, "little")


def format_di(di: int) -> str:
    return " ".join(f"{b:02X}" for b in di.to_bytes(4, "big"))


KILO = Decimal(1000)
ONE = Decimal(1)

CLOCK_OBIS = "0.0.1.0.0.255"
DATE_DI = 0x04000101  # YYMMDDWW
TIME_DI = 0x04000102  # hhmmss
DAILY_PROFILE_OBIS = "1.0.99.2.0.255"
MAX_DAILY_FREEZES = 62  # the standard keeps the last 62 daily freezes
MONTHLY_PROFILE_OBIS = "0.0.98.1.0.255"
MAX_SETTLEMENTS = 12  # the standard keeps the data of the last 12 settlement days
SETTLEMENT_DAY_DI = 0x04000B01  # first settlement day of each month, DDhh
TARIFFS = 4


def freeze_time_di(n: int) -> int:
    """DI of the time of the n-th most recent daily freeze (05 06 00 nn), YYMMDDhhmm."""
    return 0x05060000 | n


def freeze_forward_di(n: int) -> int:
    """DI of the forward active energy block of the n-th most recent daily freeze."""
    return 0x05060100 | n


def freeze_reverse_di(n: int) -> int:
    return 0x05060200 | n


def settlement_di(direction: int, tariff: int, n: int) -> int:
    """DI of an energy register (direction 1 forward, 2 reverse; tariff 0 = total) as it stood at
    the n-th last settlement day: `00 0d 0t nn`."""
    return direction << 16 | tariff << 8 | n


def _energy(di: int, obis: str, text: str, **kw: object) -> DataItem:
    return DataItem(di, obis, 4, 2, "kWh", "Wh", KILO, text=text, **kw)  # type: ignore[arg-type]


def _build() -> tuple[DataItem, ...]:
    items: list[DataItem] = []
    for direction, c in ((1, 1), (2, 2)):
        name = "forward" if direction == 1 else "reverse"
        items.append(
            _energy(0x00000000 | direction << 16, f"1.0.{c}.8.0.255", f"{name} active energy")
        )
        for tariff in range(1, 5):
            items.append(
                _energy(
                    direction << 16 | tariff << 8,
                    f"1.0.{c}.8.{tariff}.255",
                    f"{name} active energy, tariff {tariff}",
                )
            )
    phases = ("A", "B", "C")
    for i, phase in enumerate(phases, start=1):
        c_v, c_i, c_p = 12 + 20 * i, 11 + 20 * i, 16 + 20 * i
        items.append(
            DataItem(
                0x02010000 | i << 8,
                f"1.0.{c_v}.7.0.255",
                2,
                1,
                "V",
                "V",
                ONE,
                text=f"voltage {phase}",
            )
        )
        items.append(
            DataItem(
                0x02020000 | i << 8,
                f"1.0.{c_i}.7.0.255",
                3,
                3,
                "A",
                "A",
                ONE,
                signed=True,
                text=f"current {phase}",
            )
        )
        items.append(
            DataItem(
                0x02030000 | i << 8,
                f"1.0.{c_p}.7.0.255",
                3,
                4,
                "kW",
                "W",
                KILO,
                signed=True,
                text=f"active power {phase} (+import/-export)",
            )
        )
    for obis, part, what in (
        ("1.0.16.7.0.255", Part.ALL, "total active power (+import/-export)"),
        ("1.0.1.7.0.255", Part.POSITIVE, "total active power, import part"),
        ("1.0.2.7.0.255", Part.NEGATIVE, "total active power, export part"),
    ):
        items.append(
            DataItem(0x02030000, obis, 3, 4, "kW", "W", KILO, signed=True, part=part, text=what)
        )
    # Daily freeze: F = 101 is "the most recent" value (IEC 62056-6-1 convention).
    items.append(
        _energy(
            freeze_forward_di(1),
            "1.0.1.8.0.101",
            "forward active energy, last daily freeze",
            stamp_di=freeze_time_di(1),
        )
    )
    items.append(
        _energy(
            freeze_reverse_di(1),
            "1.0.2.8.0.101",
            "reverse active energy, last daily freeze",
            stamp_di=freeze_time_di(1),
        )
    )
    return tuple(items)


DATA_ITEMS: tuple[DataItem, ...] = _build()
BY_OBIS: dict[str, DataItem] = {item.obis: item for item in DATA_ITEMS}


def item_for(obis: str) -> DataItem | None:
    return BY_OBIS.get(normalize_obis(obis))


def default_points() -> list[Point]:
    """Everything a DL/T 645 meter is read for when no OBIS code is given (includes the clock)."""
    return [Point(obis=CLOCK_OBIS)] + [Point(obis=item.obis) for item in DATA_ITEMS]


def supported_obis() -> list[str]:
    return [CLOCK_OBIS, DAILY_PROFILE_OBIS, MONTHLY_PROFILE_OBIS, *BY_OBIS]

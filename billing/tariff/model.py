"""A tariff as its TOML file states it, checked when it is built (pydantic, unknown keys refused).

Pricing model, in the words a tariff file uses:

- A *period* (e.g. sharp, peak, flat, valley) is the unit that is priced: one rate per kWh in
  `[rates]`, one determinant (kWh) per period, at most one meter register per period. A flat tariff
  has no bands and the one period "all". Time-of-use: `[periods]` lists, per day type (weekday,
  weekend, holiday), bands "HH:MM" to "HH:MM" in the tariff's time zone that cover each day exactly
  once (a band may cross midnight; "24:00" ends a day). Seasons (`[[seasons]]`, inclusive month-day
  ranges covering the year exactly once) may carry their own `periods`. A price that differs by
  season or day type is a period of its own name (e.g. "summer-peak"), so every priced quantity is
  one determinant and one register.
- Day types: a date in `holidays` is a holiday; else a day in `weekend` (default sat, sun) is a
  weekend day; else a weekday. Missing `weekend` bands default to the weekday bands, missing
  `holiday` bands to the weekend bands.
- Tiers (`[[tiers]]`, `tier_basis` "month" or "year") price billed import in blocks: with
  `tier_mode = "adder"` each block's rate is added per kWh on top of the period rates; with
  `tier_mode = "price"` (flat tariffs only, no `[rates]`) the block rate is the energy price.
- `[demand]`: a rate per kW per month on maximum demand, optionally only over named periods.
- `[[fixed]]`: fixed charges per day or per month.
- `[export]`: net metering (import minus export per period at the import rates; a period whose
  export exceeds import gives a credit at the import rate, or nothing, as `excess` says) or net
  billing (all import at the import rates, export credited at its own rate or per-period rates).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from billing.money import MoneyRule

FLAT_PERIOD = "all"
DAY_TYPES = ("weekday", "weekend", "holiday")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_MMDD = re.compile(r"^(\d{2})-(\d{2})$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_OBIS = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_LEAP_YEAR = 2024  # seasons are checked against every day of a leap year

Rate = Annotated[Decimal, Field(ge=0)]


def minute_of(text: str) -> int:
    """Minutes since local midnight of "HH:MM" (already format-checked)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Band(_Strict):
    """One time band of a day: [start, end) local wall-clock time; end <= start crosses midnight."""

    period: str
    start: str
    end: str

    @field_validator("period")
    @classmethod
    def _period_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a period name is a letter then letters, digits, '-' or '_'")
        return value

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        found = _HHMM.match(value)
        if found is None or (found.group(1) == "24" and found.group(2) != "00"):
            raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)")
        return value

    def minutes(self) -> list[tuple[int, int]]:
        """The band as half-open minute ranges within one day (two when it crosses midnight)."""
        start, end = minute_of(self.start) % MINUTES_PER_DAY, minute_of(self.end)
        if end == MINUTES_PER_DAY or end > start:
            return [(start, end)]
        return [(start, MINUTES_PER_DAY), (0, end)] if end else [(start, MINUTES_PER_DAY)]

    def text(self) -> str:
        return f"{self.period} {self.start}-{self.end}"


class DayBands(_Strict):
    weekday: list[Band]
    weekend: list[Band] | None = None  # default: the weekday bands
    holiday: list[Band] | None = None  # default: the weekend bands

    def for_day_type(self, day_type: str) -> list[Band]:
        if day_type == "holiday" and self.holiday is not None:
            return self.holiday
        if day_type in ("holiday", "weekend") and self.weekend is not None:
            return self.weekend
        return self.weekday

    def given(self) -> list[tuple[str, list[Band]]]:
        """The day types written in the file, with their bands."""
        listed = [("weekday", self.weekday), ("weekend", self.weekend), ("holiday", self.holiday)]
        return [(name, bands) for name, bands in listed if bands is not None]


class Season(_Strict):
    """Month-day range, both ends inclusive; start after end wraps the new year (11-01 to 02-29)."""

    name: str
    start: str
    end: str
    periods: DayBands | None = None  # default: the tariff's top-level periods

    @field_validator("name")
    @classmethod
    def _season_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a season name is a letter then letters, digits, '-' or '_'")
        return value

    @field_validator("start", "end")
    @classmethod
    def _mmdd(cls, value: str) -> str:
        found = _MMDD.match(value)
        valid = False
        if found is not None:
            try:
                date(_LEAP_YEAR, int(found.group(1)), int(found.group(2)))
                valid = True
            except ValueError:
                pass
        if not valid:
            raise ValueError(f"{value!r} is not a month-day as MM-DD, e.g. 06-01")
        return value

    def days(self) -> list[tuple[int, int]]:
        """The (month, day) pairs of the season, over a leap year."""
        first = date(_LEAP_YEAR, *month_day(self.start))
        last = date(_LEAP_YEAR, *month_day(self.end))
        ordinals = range(first.toordinal(), last.toordinal() + 1)
        if last < first:
            year_end = date(_LEAP_YEAR, 12, 31).toordinal()
            year_start = date(_LEAP_YEAR, 1, 1).toordinal()
            wrapped = [*range(first.toordinal(), year_end + 1)]
            wrapped += range(year_start, last.toordinal() + 1)
            return [(d.month, d.day) for d in map(date.fromordinal, wrapped)]
        return [(d.month, d.day) for d in map(date.fromordinal, ordinals)]


class Tier(_Strict):
    """A block of billed import: up to `up_to_kwh` in the tier year or month (the last is open)."""

    up_to_kwh: Decimal | None = None
    rate: Rate


class Demand(_Strict):
    rate: Rate  # per kW of maximum demand per month
    periods: list[str] = []  # only demand in these periods counts; empty: any time


class FixedCharge(_Strict):
    name: str
    per: Literal["day", "month"]
    rate: Rate


class Export(_Strict):
    mode: Literal["net-metering", "net-billing"]
    excess: Literal["credit", "zero"] = (
        "zero"  # net metering: a period with more export than import
    )
    rate: Rate | None = None  # net billing: one rate for all export
    rates: dict[str, Rate] = {}  # net billing: a rate per period instead


def _problem(key: str, reason: str) -> PydanticCustomError:
    """A semantic problem at a key path of the file; the loader reads key and reason back."""
    return PydanticCustomError("tariff", "{key}: {reason}", {"key": key, "reason": reason})


class Tariff(_Strict):
    id: str
    description: str = ""
    timezone: str = "UTC"
    money: MoneyRule
    weekend: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["sat", "sun"]
    holidays: list[date] = []
    periods: DayBands | None = None
    seasons: list[Season] = []
    rates: dict[str, Rate] = {}  # currency per kWh, by period
    tier_basis: Literal["month", "year"] | None = None
    tier_mode: Literal["adder", "price"] = "adder"
    tiers: list[Tier] = []
    demand: Demand | None = None
    fixed: list[FixedCharge] = []
    export: Export | None = None
    registers: dict[str, str] = {}  # period -> the meter's import register for it (OBIS)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value):
            raise ValueError("a tariff id is letters, digits, '.', '-' or '_'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Tariff:
        from billing.tariff.checks import first_problem  # the checks read the built model

        found = first_problem(self)
        if found is not None:
            raise _problem(*found)
        return self

    # --- what the bill engine and the determinants ask of a tariff ---------------------------

    @property
    def is_time_of_use(self) -> bool:
        return self.periods is not None or bool(self.seasons)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def period_names(self) -> list[str]:
        """Priced periods in a stable order: the order of `[rates]`, else of the first bands."""
        if not self.is_time_of_use:
            return [FLAT_PERIOD]
        if self.rates:
            return list(self.rates)
        return list(dict.fromkeys(band.period for band in self.all_bands()))

    def all_bands(self) -> list[Band]:
        bands: list[Band] = []
        for table in [self.periods, *(season.periods for season in self.seasons)]:
            if table is not None:
                for _, listed in table.given():
                    bands += listed
        return bands

    @cached_property
    def needs_intervals(self) -> bool:
        """Whether bills need interval data: registers alone cannot give every determinant."""
        if self.demand is not None:
            return True
        if set(self.registers) != set(self.period_names):
            return True
        per_period_export = self.export is not None and (
            (self.export.mode == "net-metering" and len(self.period_names) > 1)
            or bool(self.export.rates)
        )
        return per_period_export

    @cached_property
    def digest(self) -> str:
        """sha-256 hex of the canonical tariff content (sorted keys, decimals as written)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai or UTC)"
    return None


def obis_problem(code: str) -> str | None:
    if not _OBIS.match(code):
        return f"{code!r} is not an OBIS code as A.B.C.D.E.F, e.g. 1.0.1.8.1.255"
    return None

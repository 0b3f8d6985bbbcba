"""Smart-payment settings: the `[billing.prepay]` section of the fleet file.

Which meters are prepaid, the balances that drive fee control (two alarms, the disconnect balance
with its overdraft, the reconnect balance, the credit cap, an optional emergency credit), the
friendly-credit windows in which nobody is disconnected, and the supply-guarantee holds
(households never disconnected for credit). Amounts are in the account currency, `Decimal`, with
no more decimals than its minor units.

Thresholds compare strictly: an alarm is raised when the balance falls *below* its balance, a
disconnect is due *below* the disconnect balance, and a reconnect is due once the balance is *at
or above* the reconnect balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class FriendlyWindow(BaseModel):
    """A recurring window without credit disconnection: it starts at `start` local time on each
    of `days` and ends at `end`, the next day when `end` is not after `start` (18:00-08:00 is a
    night); `start == end` is the whole day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: time = time(0, 0)
    end: time = time(0, 0)

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local time without offset (the section's timezone applies)")
        return value

    def spans(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The window's span starting on local `day` (none when `day` is not one of its days)."""
        if list(Weekday)[day.weekday()] not in self.days:
            return []
        begin = datetime.combine(day, self.start, tzinfo=zone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return [(begin, datetime.combine(end_day, self.end, tzinfo=zone))]


class PrepaySettings(BaseModel):
    """`[billing.prepay]`. Meters are prepaid when listed in `meters`, in one of `groups` (of
    `[service.commands] groups`), or all of the fleet's with `all_meters`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    meters: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    all_meters: bool = False
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    minor_units: int = Field(default=2, ge=0, le=4)
    opening_balance: Decimal = Decimal(0)
    first_alarm_balance: Decimal
    second_alarm_balance: Decimal
    disconnect_balance: Decimal = Field(description="may be negative: the overdraft allowance")
    reconnect_balance: Decimal
    emergency_credit: Decimal | None = Field(
        default=None, description="taken once by the customer, repaid from the next payment"
    )
    max_credit: Decimal = Field(description="a payment that would exceed it is refused")
    timezone: str = "UTC"
    friendly_windows: list[FriendlyWindow] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    holds: list[str] = Field(
        default_factory=list, description="supply-guarantee holds: never disconnected for credit"
    )
    evaluation_interval: timedelta = timedelta(minutes=15)
    command_expiry: timedelta = Field(
        default=timedelta(hours=1), description="how long a disconnect or reconnect may try"
    )

    @field_validator(
        "opening_balance",
        "first_alarm_balance",
        "second_alarm_balance",
        "disconnect_balance",
        "reconnect_balance",
        "emergency_credit",
        "max_credit",
    )
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not value.is_finite():
            raise ValueError("must be a finite amount")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)"
            ) from None
        return value

    @field_validator("evaluation_interval", "command_expiry")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> PrepaySettings:
        amounts = {
            "opening_balance": self.opening_balance,
            "first_alarm_balance": self.first_alarm_balance,
            "second_alarm_balance": self.second_alarm_balance,
            "disconnect_balance": self.disconnect_balance,
            "reconnect_balance": self.reconnect_balance,
            "max_credit": self.max_credit,
        }
        if self.emergency_credit is not None:
            amounts["emergency_credit"] = self.emergency_credit
        step = Decimal(1).scaleb(-self.minor_units)
        for key, amount in amounts.items():
            if amount != amount.quantize(step):
                raise ValueError(
                    f"{key}: {amount} has more decimals than {self.currency}'s "
                    f"{self.minor_units} minor units"
                )
        order = [
            ("max_credit", "reconnect_balance"),
            ("max_credit", "first_alarm_balance"),
            ("max_credit", "opening_balance"),
            ("first_alarm_balance", "second_alarm_balance"),
            ("second_alarm_balance", "disconnect_balance"),
            ("reconnect_balance", "disconnect_balance"),
        ]
        for high, low in order:
            if amounts[high] < amounts[low]:
                raise ValueError(
                    f"{high} ({amounts[high]}) must be at least {low} ({amounts[low]})"
                )
        if self.emergency_credit is not None and self.emergency_credit <= 0:
            raise ValueError(f"emergency_credit ({self.emergency_credit}) must be above 0")
        if not (self.meters or self.groups or self.all_meters):
            raise ValueError("name the prepaid meters: meters, groups or all_meters = true")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def money(self, amount: Decimal) -> str:
        """An amount as messages show it: '-1.50 EUR'."""
        step = Decimal(1).scaleb(-self.minor_units)
        return f"{amount.quantize(step)} {self.currency}"

    def prepaid_meters(
        self, fleet_meters: Sequence[str], groups: Mapping[str, Sequence[str]]
    ) -> list[str]:
        """The prepaid meters in fleet order; `ValueError` naming the key for a meter or group
        the fleet does not have."""
        known = set(fleet_meters)
        chosen: set[str] = set(fleet_meters) if self.all_meters else set()
        for i, meter in enumerate(self.meters):
            if meter not in known:
                raise ValueError(f"billing.prepay.meters[{i}]: no meter {meter} in the fleet")
            chosen.add(meter)
        for i, group in enumerate(self.groups):
            members = groups.get(group)
            if members is None:
                names = ", ".join(sorted(groups)) or "none configured"
                raise ValueError(f"billing.prepay.groups[{i}]: no group {group!r} ({names})")
            chosen.update(members)
        for i, meter in enumerate(self.holds):
            if meter not in known:
                raise ValueError(f"billing.prepay.holds[{i}]: no meter {meter} in the fleet")
        return [m for m in fleet_meters if m in chosen]

    def friendly_until(self, at: datetime) -> datetime | None:
        """When `at` is inside a friendly-credit window (or a holiday), the end of that window
        (windows that touch or overlap count as one, so a weekend that follows a Friday night
        runs on to Monday morning); else None."""
        zone = self.zone
        local = at.astimezone(zone)
        holidays = set(self.holidays)
        spans: list[tuple[datetime, datetime]] = []
        # two weeks on either side covers any chain of weekly windows and holidays
        for offset in range(-2, 16):
            day = local.date() + timedelta(days=offset)
            for window in self.friendly_windows:
                spans.extend(window.spans(day, zone))
            if day in holidays:
                spans.append(
                    (
                        datetime.combine(day, time(0), tzinfo=zone),
                        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
                    )
                )
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for begin, finish in spans:
            if merged and begin <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
            else:
                merged.append((begin, finish))
        for begin, finish in merged:
            if begin <= at < finish:
                return finish.astimezone(at.tzinfo)
        return None

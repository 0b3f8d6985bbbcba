"""Billing periods: a calendar month in the tariff's time zone, as `--period 2026-10` names it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """A half-open interval [start, end) of UTC instants, and the month it names."""

    name: str  # "2026-10"
    start: datetime  # aware, UTC: local midnight of the first day
    end: datetime  # aware, UTC: local midnight of the first day of the next month
    timezone: str

    @classmethod
    def month(cls, text: str, timezone: str = "UTC") -> BillingPeriod:
        """The month `YYYY-MM` in `timezone`; ValueError naming the text otherwise."""
        found = _MONTH.match(text.strip())
        if found is None or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"period {text!r}: expected a month as YYYY-MM, e.g. 2026-10")
        year, month = int(found.group(1)), int(found.group(2))
        zone = ZoneInfo(timezone)
        first = datetime(year, month, 1, tzinfo=zone)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return cls(
            name=f"{year:04d}-{month:02d}",
            start=first.astimezone(UTC),
            end=following.astimezone(UTC),
            timezone=timezone,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def days(self) -> list[date]:
        """The local calendar days of the period, in order."""
        first = self.start.astimezone(self.zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(self.zone).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """UTC bounds [start, end) of one local day."""
        zone = self.zone
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

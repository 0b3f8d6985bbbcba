"""A reading plan's `schedule` text: parsed into a `Schedule`, turned into an APScheduler trigger,
and asked for its fire times (pure: no clock, no scheduler).

Accepted forms (case and extra spaces do not matter):

* `every 15 minutes`, `every 5 min`, `every 15m`, `every 1 hour`, `every 2h`, `every minute`,
  `every 30 seconds`, `every day` — fixed intervals anchored at 1970-01-01 00:00 UTC, so
  `every 15 minutes` fires at :00, :15, :30 and :45 whenever the head-end started;
* `hourly at :30` — every hour at that minute;
* `daily at 00:05` (also `daily 00:05`);
* `weekly on monday at 02:00` (also `mon`, without `at`);
* `monthly on day 1 at 00:10` — days 1 to 28 (29-31 do not occur in every month).

All times are UTC: a site time zone is not supported yet.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Where interval schedules are anchored: every fire time is EPOCH + k * every."""

FORMS = (
    "'every 15 minutes', 'every 1 hour', 'hourly at :30', 'daily at 00:05', "
    "'weekly on monday at 02:00' or 'monthly on day 1 at 00:10' (times in UTC)"
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86_400),
}
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
_EVERY = re.compile(r"every\s*(?P<count>\d+)?\s*(?P<unit>[a-z]+)")
_HOURLY = re.compile(r"hourly(?:\s+at)?\s+:?(?P<minute>\d{1,2})")
_DAILY = re.compile(rf"daily(?:\s+at)?\s+{_TIME}")
_WEEKLY = re.compile(rf"weekly\s+on\s+(?P<weekday>[a-z]+)(?:\s+at)?\s+{_TIME}")
_MONTHLY = re.compile(rf"monthly\s+on\s+day\s+(?P<day>\d{{1,2}})(?:\s+at)?\s+{_TIME}")

ScheduleKind = Literal["interval", "hourly", "daily", "weekly", "monthly"]


class Schedule(BaseModel):
    """When a plan runs. `every` for intervals; `at` (time of day, or the minute past the hour
    for `hourly`) for the rest; `weekday` (0 = Monday) for weekly, `day` for monthly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ScheduleKind
    every: timedelta | None = None
    at: time | None = None
    weekday: int | None = Field(default=None, ge=0, le=6)
    day: int | None = Field(default=None, ge=1, le=28)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Schedule:
        wanted = {
            "interval": {"every"},
            "hourly": {"at"},
            "daily": {"at"},
            "weekly": {"at", "weekday"},
            "monthly": {"at", "day"},
        }[self.kind]
        fields = ("every", "at", "weekday", "day")
        given = {name for name in fields if getattr(self, name) is not None}
        if given != wanted:
            raise ValueError(f"a {self.kind} schedule takes {', '.join(sorted(wanted))}")
        if self.every is not None and (
            self.every < timedelta(seconds=1) or self.every % timedelta(seconds=1)
        ):
            raise ValueError("the interval must be a whole number of seconds, at least one")
        if self.at is not None and self.at.tzinfo is not None:
            raise ValueError("the time of day is UTC and carries no time zone")
        return self

    def describe(self) -> str:
        """The schedule as canonical text (parses back to an equal Schedule)."""
        if self.kind == "interval":
            assert self.every is not None
            return f"every {_interval_text(self.every)}"
        assert self.at is not None
        if self.kind == "hourly":
            return f"hourly at :{self.at.minute:02d}"
        at = self.at.isoformat(timespec="seconds" if self.at.second else "minutes")
        if self.kind == "daily":
            return f"daily at {at}"
        if self.kind == "weekly":
            assert self.weekday is not None
            return f"weekly on {WEEKDAYS[self.weekday]} at {at}"
        return f"monthly on day {self.day} at {at}"

    def trigger(self, tz: tzinfo | str = UTC) -> BaseTrigger:
        """The APScheduler trigger that fires at exactly `latest_fire_time`'s instants."""
        # Imported here: loading a config validates schedules and needs no scheduler.
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.kind == "interval":
            assert self.every is not None
            return IntervalTrigger(
                seconds=int(self.every.total_seconds()), start_date=EPOCH, timezone=tz
            )
        assert self.at is not None
        fields: dict[str, object] = {"minute": self.at.minute, "second": self.at.second}
        if self.kind != "hourly":
            fields["hour"] = self.at.hour
        if self.kind == "weekly":
            assert self.weekday is not None
            fields["day_of_week"] = self.weekday  # APScheduler 3 counts from 0 = Monday too
        if self.kind == "monthly":
            fields["day"] = self.day
        return CronTrigger(timezone=tz, **fields)


def parse_schedule(text: str) -> Schedule:
    """A schedule from its text; ValueError naming the accepted forms when it is not one."""
    try:
        return _parse(" ".join(text.lower().split()))
    except ValueError as exc:
        raise ValueError(f"{exc}; expected {FORMS}") from None


def _parse(words: str) -> Schedule:
    if match := _EVERY.fullmatch(words):
        unit = _UNITS.get(match["unit"])
        if unit is None:
            raise ValueError(f"unknown unit {match['unit']!r} (seconds, minutes, hours or days)")
        count = int(match["count"]) if match["count"] is not None else 1
        if count < 1:
            raise ValueError("the interval must be at least 1")
        return Schedule(kind="interval", every=timedelta(seconds=count * unit))
    if match := _HOURLY.fullmatch(words):
        minute = int(match["minute"])
        if minute > 59:
            raise ValueError(f"minute {minute} is not 0-59")
        return Schedule(kind="hourly", at=time(0, minute))
    if match := _DAILY.fullmatch(words):
        return Schedule(kind="daily", at=_time_of_day(match))
    if match := _WEEKLY.fullmatch(words):
        return Schedule(kind="weekly", at=_time_of_day(match), weekday=_weekday(match["weekday"]))
    if match := _MONTHLY.fullmatch(words):
        day = int(match["day"])
        if not 1 <= day <= 28:
            raise ValueError(f"day {day} is not 1-28 (days 29-31 do not occur in every month)")
        return Schedule(kind="monthly", at=_time_of_day(match), day=day)
    raise ValueError("not a schedule")


def latest_fire_time(schedule: Schedule, now: datetime) -> datetime:
    """The last fire time at or before `now`: the run a catch-up after an outage serves."""
    now = _utc(now)
    if schedule.kind == "interval":
        assert schedule.every is not None
        return EPOCH + schedule.every * ((now - EPOCH) // schedule.every)
    assert schedule.at is not None
    at = schedule.at
    if schedule.kind == "hourly":
        fire = now.replace(minute=at.minute, second=at.second, microsecond=0)
        return fire if fire <= now else fire - timedelta(hours=1)
    if schedule.kind == "daily":
        fire = datetime.combine(now.date(), at, UTC)
        return fire if fire <= now else fire - timedelta(days=1)
    if schedule.kind == "weekly":
        assert schedule.weekday is not None
        back = (now.weekday() - schedule.weekday) % 7
        fire = datetime.combine(now.date() - timedelta(days=back), at, UTC)
        return fire if fire <= now else fire - timedelta(days=7)
    assert schedule.day is not None
    fire = datetime.combine(now.date().replace(day=schedule.day), at, UTC)
    if fire <= now:
        return fire
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return fire.replace(year=year, month=month)


def next_fire_time(schedule: Schedule, now: datetime) -> datetime:
    """The first fire time strictly after `now`."""
    latest = latest_fire_time(schedule, now)
    if schedule.kind == "interval":
        assert schedule.every is not None
        return latest + schedule.every
    if schedule.kind == "hourly":
        return latest + timedelta(hours=1)
    if schedule.kind == "daily":
        return latest + timedelta(days=1)
    if schedule.kind == "weekly":
        return latest + timedelta(days=7)
    year, month = (latest.year, latest.month + 1) if latest.month < 12 else (latest.year + 1, 1)
    return latest.replace(year=year, month=month)


def _time_of_day(match: re.Match[str]) -> time:
    hour, minute = int(match["hour"]), int(match["minute"])
    second = int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{match['hour']}:{match['minute']} is not a time of day (00:00-23:59)")
    return time(hour, minute, second)


def _weekday(name: str) -> int:
    for i, day in enumerate(WEEKDAYS):
        if name == day or (len(name) >= 3 and day.startswith(name)):
            return i
    raise ValueError(f"unknown weekday {name!r} (monday ... sunday)")


def _interval_text(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("a fire time needs an aware datetime (UTC)")
    return when.astimezone(UTC)

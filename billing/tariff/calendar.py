"""The tariff calendar: which priced period an instant falls in (season, day type, time band).

Everything is evaluated on the wall clock of the tariff's time zone: on a daylight-saving day the
local day is 23 or 25 hours long and the bands follow the local clock. An interval slot is
labelled by its start instant.

`labels()` is the hot path (a month of 15-minute slots per meter): a day's labels come from a
row of 1,440 minute labels shared by all days of the same (season, day type), and the row of a
local date is cached.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from billing.tariff.model import FLAT_PERIOD, MINUTES_PER_DAY, WEEKDAY_NAMES, DayBands, Tariff

MinuteRow = tuple[str, ...]  # label of each minute of a local day


class TariffCalendar:
    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self._zone = tariff.zone
        self._holidays = frozenset(tariff.holidays)
        self._weekend = frozenset(WEEKDAY_NAMES.index(name) for name in tariff.weekend)
        self._season_of: dict[tuple[int, int], int] = {}
        for i, season in enumerate(tariff.seasons):
            for day in season.days():
                self._season_of[day] = i
        self._rows: dict[tuple[int, str], MinuteRow] = {}
        self._by_date: dict[date, MinuteRow] = {}
        self._flat: MinuteRow | None = None
        if not tariff.is_time_of_use:
            self._flat = (FLAT_PERIOD,) * MINUTES_PER_DAY
        self._utc = tariff.timezone in ("UTC", "Etc/UTC")

    def day_type(self, day: date) -> str:
        if day in self._holidays:
            return "holiday"
        return "weekend" if day.weekday() in self._weekend else "weekday"

    def season(self, day: date) -> str | None:
        if not self.tariff.seasons:
            return None
        return self.tariff.seasons[self._season_of[(day.month, day.day)]].name

    def row(self, day: date) -> MinuteRow:
        """The label of each minute of a local date."""
        found = self._by_date.get(day)
        if found is not None:
            return found
        if self._flat is not None:
            self._by_date[day] = self._flat
            return self._flat
        season = self._season_of.get((day.month, day.day), -1)
        day_type = self.day_type(day)
        key = (season, day_type)
        row = self._rows.get(key)
        if row is None:
            row = self._build_row(season, day_type)
            self._rows[key] = row
        self._by_date[day] = row
        return row

    def _build_row(self, season: int, day_type: str) -> MinuteRow:
        table: DayBands | None = self.tariff.periods
        if season >= 0 and self.tariff.seasons[season].periods is not None:
            table = self.tariff.seasons[season].periods
        assert table is not None  # the tariff's checks guarantee bands for every season
        labels = [""] * MINUTES_PER_DAY
        for band in table.for_day_type(day_type):
            for start, end in band.minutes():
                labels[start:end] = [band.period] * (end - start)
        return tuple(labels)

    def period_of(self, at: datetime) -> str:
        """The priced period of an aware instant."""
        if at.tzinfo is None:
            raise ValueError(f"period_of needs an aware datetime, got naive {at.isoformat()}")
        local = at.astimezone(self._zone)
        return self.row(local.date())[local.hour * 60 + local.minute]

    def labels(self, start: datetime, interval: timedelta, count: int) -> list[str]:
        """The period of each slot start + i*interval, i in range(count)."""
        if start.tzinfo is None:
            raise ValueError(f"labels needs an aware start, got naive {start.isoformat()}")
        if count <= 0:
            return []
        if self._flat is not None:
            return [FLAT_PERIOD] * count
        step = int(interval.total_seconds())
        if step <= 0 or timedelta(seconds=step) != interval:
            raise ValueError(f"interval must be a positive whole number of seconds, not {interval}")
        out: list[str] = []
        at = start.astimezone(UTC)
        end = at + interval * count
        # Walk run by run: within one UTC offset the local clock moves with the slots, so the
        # offset is looked up once per run instead of once per slot.
        while at < end:
            local = at.astimezone(self._zone)
            offset = local.utcoffset() or timedelta(0)
            run_end = end if self._utc else min(end, self._next_change(at, offset, end))
            n = -(-int((run_end - at).total_seconds()) // step)
            second = local.hour * 3600 + local.minute * 60 + local.second
            day = local.date()
            row = self.row(day)
            for _ in range(n):
                while second >= 86400:
                    second -= 86400
                    day += timedelta(days=1)
                    row = self.row(day)
                out.append(row[second // 60])
                second += step
            at += interval * n
        return out

    def _next_change(self, at: datetime, offset: timedelta, limit: datetime) -> datetime:
        """The first whole hour after `at` (up to `limit`) where the zone's UTC offset differs."""
        zone = self._zone
        probe = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        # Offsets change at most a few times a year; check daily, then hourly inside that day.
        day_probe = probe
        while day_probe < limit and day_probe.astimezone(zone).utcoffset() == offset:
            day_probe += timedelta(days=1)
        if day_probe >= limit and limit.astimezone(zone).utcoffset() == offset:
            return limit
        hour_probe = max(probe, day_probe - timedelta(days=1))
        while hour_probe < limit and hour_probe.astimezone(zone).utcoffset() == offset:
            hour_probe += timedelta(hours=1)
        return min(hour_probe, limit)

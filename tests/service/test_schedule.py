"""Schedule texts: what they parse to, their fire times, the APScheduler trigger agreeing with
them, rejected texts with a reason, and a bad schedule failing the config load naming the plan."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from headend.config import load_config
from headend.config.errors import ConfigError
from headend.service.schedule import (
    Schedule,
    latest_fire_time,
    next_fire_time,
    parse_schedule,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (text, now, latest fire time <= now, next fire time > now); 2024-03-01 is a Friday
CASES = [
    ("every 15 minutes", "2024-03-01 00:07", "2024-03-01 00:00", "2024-03-01 00:15"),
    ("every 15 minutes", "2024-03-01 00:15", "2024-03-01 00:15", "2024-03-01 00:30"),
    ("every 15m", "2024-03-01 23:59:59", "2024-03-01 23:45", "2024-03-02 00:00"),
    ("every 5 minutes", "2024-03-01 10:04:59", "2024-03-01 10:00", "2024-03-01 10:05"),
    ("every 1 hour", "2024-03-01 10:30", "2024-03-01 10:00", "2024-03-01 11:00"),
    ("every minute", "2024-03-01 10:30:30", "2024-03-01 10:30", "2024-03-01 10:31"),
    ("hourly at :30", "2024-03-01 10:29", "2024-03-01 09:30", "2024-03-01 10:30"),
    ("hourly at :30", "2024-03-01 00:10", "2024-02-29 23:30", "2024-03-01 00:30"),
    ("daily at 00:05", "2024-03-01 00:04", "2024-02-29 00:05", "2024-03-01 00:05"),
    ("daily at 00:05", "2024-03-01 00:05", "2024-03-01 00:05", "2024-03-02 00:05"),
    ("daily 00:05", "2024-12-31 23:00", "2024-12-31 00:05", "2025-01-01 00:05"),
    ("weekly on monday at 02:00", "2024-03-01 12:00", "2024-02-26 02:00", "2024-03-04 02:00"),
    ("weekly on mon 02:00", "2024-03-04 01:59", "2024-02-26 02:00", "2024-03-04 02:00"),
    ("weekly on friday at 12:00", "2024-03-01 12:00", "2024-03-01 12:00", "2024-03-08 12:00"),
    ("monthly on day 1 at 00:10", "2024-03-01 00:09", "2024-02-01 00:10", "2024-03-01 00:10"),
    ("monthly on day 1 at 00:10", "2024-03-15 00:00", "2024-03-01 00:10", "2024-04-01 00:10"),
    ("monthly on day 28 at 23:00", "2024-01-10 00:00", "2023-12-28 23:00", "2024-01-28 23:00"),
    (
        "Monthly  On Day 15 at 06:30:15",
        "2024-12-20 00:00",
        "2024-12-15 06:30:15",
        "2025-01-15 06:30:15",
    ),
]


@pytest.mark.parametrize(("text", "now", "latest", "upcoming"), CASES)
def test_fire_times(text: str, now: str, latest: str, upcoming: str) -> None:
    schedule = parse_schedule(text)
    assert latest_fire_time(schedule, utc(now)) == utc(latest)
    assert next_fire_time(schedule, utc(now)) == utc(upcoming)


@pytest.mark.parametrize(("text", "now", "latest", "upcoming"), CASES)
def test_trigger_fires_at_the_same_times(text: str, now: str, latest: str, upcoming: str) -> None:
    trigger = parse_schedule(text).trigger()
    # APScheduler's "next" is the first fire time >= now: just after the latest one, it is ours
    assert trigger.get_next_fire_time(None, utc(latest)) == utc(latest)
    assert trigger.get_next_fire_time(None, utc(latest) + timedelta(microseconds=1)) == utc(
        upcoming
    )
    # and the one after that, as the scheduler asks once a run has fired
    after = next_fire_time(parse_schedule(text), utc(upcoming))
    assert trigger.get_next_fire_time(utc(upcoming), utc(upcoming)) == after


def test_intervals_are_anchored_to_round_times_whenever_asked() -> None:
    schedule = parse_schedule("every 15 minutes")
    trigger = schedule.trigger()
    for now in ("2024-03-01 00:00:01", "2024-07-19 13:14:15.5", "2031-01-01 07:59"):
        fire = trigger.get_next_fire_time(None, utc(now))
        assert fire.minute % 15 == 0 and fire.second == 0 and fire.microsecond == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every 15 minutes", Schedule(kind="interval", every=timedelta(minutes=15))),
        ("every 2h", Schedule(kind="interval", every=timedelta(hours=2))),
        ("EVERY   30 seconds", Schedule(kind="interval", every=timedelta(seconds=30))),
        ("daily at 00:05", Schedule(kind="daily", at=datetime(1, 1, 1, 0, 5).time())),
        (
            "weekly on sunday at 23:59",
            Schedule(kind="weekly", at=datetime(1, 1, 1, 23, 59).time(), weekday=6),
        ),
        (
            "monthly on day 1 at 00:10",
            Schedule(kind="monthly", at=datetime(1, 1, 1, 0, 10).time(), day=1),
        ),
    ],
)
def test_parsed_model_and_canonical_text(text: str, expected: Schedule) -> None:
    schedule = parse_schedule(text)
    assert schedule == expected
    assert parse_schedule(schedule.describe()) == schedule


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a schedule"),
        ("sometimes", "not a schedule"),
        ("daily", "not a schedule"),
        ("daily at 24:00", "not a time of day"),
        ("daily at 12:60", "not a time of day"),
        ("every 0 minutes", "at least 1"),
        ("every 3 fortnights", "unknown unit 'fortnights'"),
        ("weekly on funday at 01:00", "unknown weekday 'funday'"),
        ("monthly on day 31 at 00:00", "day 31 is not 1-28"),
        ("monthly on day 0 at 00:00", "day 0 is not 1-28"),
        ("hourly at :75", "minute 75"),
        ("every 15 minutes and then some", "not a schedule"),
    ],
)
def test_bad_texts_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(text)
    message = str(caught.value)
    assert reason in message
    assert "'daily at 00:05'" in message and "'every 15 minutes'" in message  # the forms


def test_a_schedule_model_checks_its_fields() -> None:
    with pytest.raises(ValueError):
        Schedule(kind="daily", every=timedelta(minutes=5))
    with pytest.raises(ValueError):
        Schedule(kind="interval", every=timedelta(milliseconds=1500))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        latest_fire_time(parse_schedule("daily at 00:05"), datetime(2024, 3, 1))


FLEET = """
[[channels]]
id = "gprs"
host = "127.0.0.1"
port = 4059

[[meters]]
id = "m1"
protocol = "dlms"
channel = "gprs"

[[plans]]
name = "profile"
profile = "1.0.99.1.0.255"
schedule = "every 15 minutes"

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255"]
schedule = "{schedule}"
"""


def test_a_bad_schedule_fails_the_config_load_naming_the_plan(tmp_path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(textwrap.dedent(FLEET.format(schedule="daily at 25:00")))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problems = caught.value.problems
    assert [p.path for p in problems] == ["plans[1].schedule"]
    assert "plan 'registers'" in problems[0].reason
    assert "not a time of day" in problems[0].reason
    assert "plans[1].schedule" in str(caught.value)


def test_good_schedules_load_unchanged(tmp_path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(textwrap.dedent(FLEET.format(schedule="monthly on day 1 at 00:10")))
    fleet = load_config(path, env={}).fleet
    assert [plan.schedule for plan in fleet.plans] == [
        "every 15 minutes",
        "monthly on day 1 at 00:10",
    ]

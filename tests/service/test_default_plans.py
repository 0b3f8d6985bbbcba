"""The shipped default plans agree everywhere: config/demo.toml carries the same plans as
headend/config/default_plans.py (compared as parsed `ReadingPlan`s), every schedule parses, the
demo file loads as a fleet with them, and a generated fleet (what `headend simulate --meters N`
writes for `headend run`) contains them."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.config import load_config
from headend.config.default_plans import DEFAULT_PLANS
from headend.config.errors import ConfigError
from headend.config.fleet import ReadingPlan
from headend.service.schedule import next_fire_time, parse_schedule
from headend.simulation.generator import FleetShape, generate

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo.toml"
DEFAULTS = {p["name"]: ReadingPlan.model_validate(p) for p in DEFAULT_PLANS}


def test_the_default_plans_are_the_service_plans_of_the_issue() -> None:
    assert list(DEFAULTS) == [
        "load-profile",
        "daily-billing",
        "monthly-billing",
        "clock-check",
        "instantaneous",
    ]
    assert all(plan.schedule for plan in DEFAULTS.values())
    assert DEFAULTS["daily-billing"].schedule == "daily at 00:05"
    assert DEFAULTS["load-profile"].schedule == "every 15 minutes"


def test_demo_toml_carries_the_default_plans_unchanged() -> None:
    raw = tomllib.loads(DEMO.read_text())
    in_file = {p["name"]: ReadingPlan.model_validate(p) for p in raw["plans"]}
    assert DEFAULTS.keys() <= in_file.keys()
    for name, plan in DEFAULTS.items():
        assert in_file[name] == plan, name
    # and as `headend run` loads it (the whole fleet file validated)
    fleet = load_config(DEMO).fleet
    for name, plan in DEFAULTS.items():
        assert fleet.plan(name) == plan, name


@pytest.mark.parametrize("source", ["defaults", "demo"])
def test_every_schedule_parses_and_fires(source: str) -> None:
    plans = (
        list(DEFAULTS.values())
        if source == "defaults"
        else [ReadingPlan.model_validate(p) for p in tomllib.loads(DEMO.read_text())["plans"]]
    )
    now = datetime(2024, 2, 29, 23, 59, tzinfo=UTC)
    scheduled = [p for p in plans if p.schedule is not None]
    assert scheduled
    for plan in scheduled:
        assert plan.schedule is not None
        schedule = parse_schedule(plan.schedule)
        assert next_fire_time(schedule, now) > now, plan.name


def test_an_unparseable_schedule_is_a_config_error_naming_the_plan(tmp_path: Path) -> None:
    text = DEMO.read_text().replace('schedule = "daily at 03:00"', 'schedule = "every full moon"')
    assert "every full moon" in text
    broken = tmp_path / "broken.toml"
    broken.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(broken)
    message = str(refused.value)
    assert str(broken) in message and "schedule" in message and "'clock-check'" in message


def test_a_generated_fleet_contains_the_default_plans() -> None:
    data = generate(FleetShape(meters=10, concentrators=1, meters_per_concentrator=4))
    generated = {p["name"]: ReadingPlan.model_validate(p) for p in data["plans"]}
    for name, plan in DEFAULTS.items():
        assert generated[name] == plan, name
    scheduled = {name for name, plan in generated.items() if plan.schedule is not None}
    assert scheduled == DEFAULTS.keys()

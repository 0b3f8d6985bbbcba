"""The `[load]` section: defaults, overrides, demand-response events and precise errors naming
the key path, through the fleet loader as a user meets them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from headend.config.errors import ConfigError
from headend.config.load import LoadSettings, PriorityClass
from headend.config.loader import load_config
from tests.load.feeder_fleet import FEEDER_LOAD, FEEDER_METERS, fleet_file

LOAD = (
    FEEDER_LOAD
    + """limiter = false
min_w = 500
max_w = 6000

[[load.demand_response]]
id = "dr1"
feeder = "f1"
start = "2026-06-01T18:00:00Z"
end = "2026-06-01T20:00:00Z"
reduction_kw = 2
spread = "PT10M"
"""
)


def errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(fleet_file(tmp_path, text), env={})
    return str(caught.value)


def test_a_fleet_without_load_section_has_none(tmp_path: Path) -> None:
    assert load_config(fleet_file(tmp_path, FEEDER_METERS), env={}).fleet.load is None


def test_load_section_with_defaults_and_overrides(tmp_path: Path) -> None:
    load = load_config(fleet_file(tmp_path, FEEDER_METERS + LOAD), env={}).fleet.load
    assert load is not None
    assert load.cycle == timedelta(minutes=1)
    assert load.lease == timedelta(minutes=5)
    assert load.usage_obis == "1.0.1.7.0.255"
    feeder = load.feeder("f1")
    assert feeder.kind == "transformer"
    assert feeder.usable_kw == pytest.approx(9.5)
    assert load.household("h2").priority is PriorityClass.MEDICAL
    assert load.household("h2").priority.protected
    assert not load.household("h1").priority.protected
    assert load.household("h3").limiter is False
    assert (load.min_w("h3"), load.max_w("h3")) == (500, 6000)
    assert (load.min_w("h1"), load.max_w("h1")) == (0, 9200)
    (event,) = load.demand_response
    assert event.version == 1 and event.spread == timedelta(minutes=10)


def test_lease_must_exceed_two_cycles() -> None:
    with pytest.raises(ValidationError, match="must exceed two cycles"):
        LoadSettings(cycle=timedelta(minutes=5), lease=timedelta(minutes=10))


def test_unknown_feeder_meter_and_household_name_their_key_path(tmp_path: Path) -> None:
    text = FEEDER_METERS + LOAD.replace('meter = "feeder-1"', 'meter = "nope"').replace(
        '"h3"]', '"h9"]'
    )
    message = errors(tmp_path, text)
    assert "load.feeders[0].meter: no meter 'nope' is defined" in message
    assert "load.feeders[0].households[2]: no meter 'h9' is defined" in message
    assert "load.households.h3: household 'h3' is on no feeder" in message


def test_a_household_on_two_feeders_is_refused(tmp_path: Path) -> None:
    second = """
[[load.feeders]]
id = "f2"
capacity_kw = 10
meter = "feeder-1"
households = ["h3", "h1"]
"""
    message = errors(tmp_path, FEEDER_METERS + LOAD + second)
    assert "feeders[1].households[1]: household 'h1' is already on feeder 'f1'" in message
    assert "a household is on one feeder only" in message


def test_a_feeder_meter_is_not_a_household(tmp_path: Path) -> None:
    text = FEEDER_METERS + LOAD.replace('"h3"]', '"h3", "feeder-1"]')
    assert "'feeder-1' is the feeder meter of" in errors(tmp_path, text)


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    text = FEEDER_METERS + LOAD.replace("margin = 0.05", "margin = 1.5").replace(
        'priority = "medical"', 'priority = "vip"'
    )
    message = errors(tmp_path, text)
    assert "load.feeders[0].margin:" in message
    assert "load.households.h2.priority:" in message


def test_household_min_above_max_is_refused(tmp_path: Path) -> None:
    message = errors(tmp_path, FEEDER_METERS + LOAD.replace("min_w = 500", "min_w = 7000"))
    assert "load.households.h3: min_w (7000 W) exceeds max_w (6000 W)" in message


def test_demand_response_event_needs_one_target_and_a_window(tmp_path: Path) -> None:
    text = FEEDER_METERS + LOAD.replace('feeder = "f1"\nstart', "start").replace(
        'end = "2026-06-01T20:00:00Z"', 'end = "2026-06-01T17:00:00Z"'
    )
    message = errors(tmp_path, text)
    assert "load.demand_response[0]: name exactly one target: feeder or households" in message
    group = FEEDER_METERS + LOAD.replace('feeder = "f1"\nstart', 'households = ["h1", "h7"]\nstart')
    assert "demand_response[0].households[1]: household 'h7' is on no feeder" in errors(
        tmp_path, group
    )
    unknown = FEEDER_METERS + LOAD.replace('feeder = "f1"\nstart', 'feeder = "f9"\nstart')
    assert "demand_response[0].feeder: no feeder 'f9' is defined" in errors(tmp_path, unknown)


def test_end_must_follow_start() -> None:
    with pytest.raises(ValidationError, match="end must be after start"):
        LoadSettings.model_validate(
            {
                "demand_response": [
                    {
                        "id": "e",
                        "feeder": "f",
                        "start": "2026-06-01T18:00:00Z",
                        "end": "2026-06-01T18:00:00Z",
                        "reduction_kw": 1,
                    }
                ]
            }
        )


def test_a_version_repeated_is_refused(tmp_path: Path) -> None:
    event = LOAD.split("[[load.demand_response]]")[1]
    message = errors(tmp_path, FEEDER_METERS + LOAD + "\n[[load.demand_response]]" + event)
    assert "demand_response[1].version: event 'dr1' has version 1 twice" in message


def test_problems_of_a_section_built_alone() -> None:
    settings = LoadSettings.model_validate(
        {
            "feeders": [
                {"id": "f", "capacity_kw": 5, "meter": "m", "households": ["a"]},
                {"id": "f", "capacity_kw": 5, "meter": "n", "households": ["a"]},
            ]
        }
    )
    assert settings.problems() == [
        ("feeders[1].id", "duplicate feeder 'f'"),
        (
            "feeders[1].households[0]",
            "household 'a' is already on feeder 'f' (feeders[0]): a household is on one "
            "feeder only",
        ),
    ]


def test_the_documented_example_is_valid() -> None:
    import tomllib

    from headend.config import load as module

    doc = module.__doc__ or ""
    example = "\n".join(line[4:] for line in doc.splitlines() if line.startswith("    "))
    settings = LoadSettings.model_validate(tomllib.loads(example)["load"])
    assert settings.problems() == []
    assert settings.feeder("f1").usable_kw == pytest.approx(225)
    assert settings.household("m0002").priority is PriorityClass.MEDICAL

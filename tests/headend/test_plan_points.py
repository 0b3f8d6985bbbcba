"""Which points a plan asks of each meter: skipped where the driver can never provide them."""

from __future__ import annotations

from drivers.contract import Point
from drivers.modbus.registermap import map_points
from drivers.registry import parse_device_url
from headend.config import ReadingPlan
from headend.reading.meter import applicable

MODBUS = parse_device_url("modbus+tcp://10.0.0.9?unit=1&model=dtsu666", env={})
DLT645 = parse_device_url("dlt645+tcp://10.0.0.9:8899?address=123456789012", env={})
DLMS = parse_device_url("dlms+tcp://10.0.0.7:4059", env={})
POINTS = ["1.0.1.8.0.255", "1.0.1.8.1.255", "0.0.1.0.0.255"]


def plan(**kw: object) -> ReadingPlan:
    return ReadingPlan.model_validate({"name": "p", "points": POINTS, **kw})


def obis(points: list[Point]) -> list[str]:
    return [p.obis for p in points]


def test_modbus_skips_what_its_map_lacks_and_the_profile():
    p = plan(profile="1.0.99.1.0.255")
    points, profile, skipped = applicable(p, [Point(obis=o) for o in POINTS], MODBUS)
    assert obis(points) == ["1.0.1.8.0.255"] and not profile
    assert skipped == ["1.0.1.8.1.255", "0.0.1.0.0.255", "1.0.99.1.0.255"]


def test_dlt645_keeps_its_table_and_its_daily_profile():
    p = plan(profile="1.0.99.2.0.255")
    points, profile, skipped = applicable(p, [Point(obis=o) for o in POINTS], DLT645)
    assert obis(points) == POINTS and profile and skipped == []


def test_dlms_is_always_asked():
    p = plan(profile="1.0.99.1.0.255")
    points, profile, skipped = applicable(p, [Point(obis="1.0.150.8.0.255")], DLMS)
    assert obis(points) == ["1.0.150.8.0.255"] and profile and skipped == []


def test_points_by_name_are_not_skipped():
    p = plan(skip_unsupported=False)
    points, _profile, skipped = applicable(p, [Point(obis=o) for o in POINTS], MODBUS)
    assert obis(points) == POINTS and skipped == []


def test_empty_plan_reads_the_standard_set():
    p = ReadingPlan(name="p")
    points, profile, skipped = applicable(p, [], MODBUS)
    assert obis(points) == [p.obis for p in map_points("dtsu666")]
    assert not profile and skipped == []

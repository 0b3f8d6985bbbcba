"""The grouped reading payload: each reading in it is exactly the plain `ReadingMessage` JSON."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from decimal import Decimal

from drivers.contract import Quality, Reading
from headend.sinks.messages import ReadingMessage, ReadingsMessage, readings_json
from tests.sinks.support import T0, energy

BEIJING = timezone(timedelta(hours=8))


def varied() -> list[Reading]:
    at = T0 + timedelta(minutes=15, microseconds=250)
    return [
        energy("m1", 0),
        Reading(
            meter_id="m1",
            obis="0.0.1.0.0.255",
            value=at.astimezone(BEIJING),
            unit=None,
            capture_time=None,
            receive_time=at,
            quality=Quality.CLOCK_SUSPECT,
        ),
        Reading(
            meter_id="m1",
            obis="1.0.32.7.0.255",
            value=Decimal("2.30E+2"),
            unit="V",
            capture_time=at.astimezone(BEIJING),
            receive_time=at,
            quality=Quality.SUSPECT,
        ),
        Reading(
            meter_id="m1",
            obis="0.0.96.1.0.255",
            value='serial "A-1"',
            unit=None,
            capture_time=at,
            receive_time=at,
        ),
    ]


def test_each_grouped_reading_is_the_plain_reading_message_field_for_field():
    readings = varied()
    payload = readings_json("m1", readings)
    group = json.loads(payload)
    plain = [json.loads(ReadingMessage.of(r).model_dump_json()) for r in readings]
    assert group["schema_version"] == 1 and group["meter"] == "m1"
    assert group["readings"] == plain
    assert [list(r) for r in group["readings"]] == [list(p) for p in plain]  # key order too
    assert group["readings"][2]["value"] == "230"
    assert group["readings"][1]["capture_time"] is None
    parsed = ReadingsMessage.model_validate_json(payload)
    assert parsed.readings == [ReadingMessage.of(r) for r in readings]

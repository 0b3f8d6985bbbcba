"""The simulator's profile buffer, encoded straight to bytes, equals the same rows built as
dlms-cosem data objects and encoded by dlms-cosem: whole, by range, by range with projected
columns, by entry, with a scaler on the registers, and for the event log."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from dlms_cosem import dlms_data

from drivers.dlms.server import values as v
from drivers.sim.clock import SimClock
from drivers.sim.cosem import profiles
from drivers.sim.physics import EXPORT_TOTAL, IMPORT_TOTAL, SimulatedMeter
from tests.sim_dlms.conftest import START


def _column(column: profiles.Column) -> Any:
    return column.descriptor()


def _range(start: Any, end: Any, columns: list[profiles.Column]) -> Any:
    return dlms_data.DataStructure(
        [
            _column(profiles.CLOCK_COLUMN),
            dlms_data.OctetStringData(v.datetime_octets(start)),
            dlms_data.OctetStringData(v.datetime_octets(end)),
            dlms_data.DataArray([_column(c) for c in columns]),
        ]
    )


def _expected(meter: SimulatedMeter, start: Any, end: Any, picked: list[int]) -> bytes:
    def raw(wh: Decimal, obis: str) -> int:
        scaler = meter.scalers.get(obis, 0)
        return int(wh.scaleb(-scaler).to_integral_value(rounding=ROUND_HALF_EVEN))

    rows = []
    for row in meter.load_profile.between(start, end):
        cells = [
            dlms_data.OctetStringData(v.datetime_octets(row.clock)),
            dlms_data.DoubleLongUnsignedData(raw(row.import_wh, IMPORT_TOTAL)),
            dlms_data.DoubleLongUnsignedData(raw(row.export_wh, EXPORT_TOTAL)),
        ]
        rows.append(dlms_data.DataStructure([cells[i] for i in picked]))
    return bytes(dlms_data.DataArray(rows).to_bytes())


@pytest.fixture
def meter() -> SimulatedMeter:
    return SimulatedMeter("E1", SimClock(start=START, factor=0.0), seed=3)


@pytest.mark.parametrize("scaler", [0, 1, -1])
def test_range_read_matches_dlms_cosem_encoding(meter: SimulatedMeter, scaler: int) -> None:
    meter.scalers[IMPORT_TOTAL] = scaler
    spec = profiles.LOAD_PROFILE_SPEC
    start, end = START - timedelta(hours=30), START - timedelta(hours=6)
    got = profiles.buffer(spec, meter, profiles.RANGE_SELECTOR, _range(start, end, []))
    expected = _expected(meter, start, end, [0, 1, 2])
    assert got.to_bytes() == expected
    assert expected.startswith(b"\x01\x61")  # 24 h of quarter-hours and both ends: 97 rows
    projected = [spec.columns[0], spec.columns[2]]
    got = profiles.buffer(spec, meter, profiles.RANGE_SELECTOR, _range(start, end, projected))
    assert got.to_bytes() == _expected(meter, start, end, [0, 2])


def test_whole_and_by_entry_match(meter: SimulatedMeter) -> None:
    spec = profiles.LOAD_PROFILE_SPEC
    far_past, far_future = START - timedelta(days=400), START + timedelta(days=1)
    whole = profiles.buffer(spec, meter, None, None).to_bytes()
    assert whole == _expected(meter, far_past, far_future, [0, 1, 2])
    assert len(whole) > 200 * 20  # two days of history: a long array, a multi-byte count
    entry = dlms_data.DataStructure([dlms_data.DoubleLongUnsignedData(n) for n in (3, 5, 2, 3)])
    got = profiles.buffer(spec, meter, profiles.ENTRY_SELECTOR, entry).to_bytes()
    rows = meter.load_profile.between(far_past, far_future)[2:5]
    assert got == _expected(meter, rows[0].clock, rows[-1].clock, [1, 2])
    assert profiles.entries_in_use(spec, meter) == len(meter.load_profile)


def test_event_log_matches(meter: SimulatedMeter) -> None:
    meter.disconnect()
    meter.reconnect()
    got = profiles.buffer(profiles.EVENT_LOG_SPEC, meter, None, None).to_bytes()
    expected = dlms_data.DataArray(
        [
            dlms_data.DataStructure(
                [
                    dlms_data.OctetStringData(v.datetime_octets(e.clock)),
                    dlms_data.UnsignedIntegerData(e.code & 0xFF),
                ]
            )
            for e in meter.events
        ]
    ).to_bytes()
    assert len(meter.events) >= 2
    assert got == bytes(expected)

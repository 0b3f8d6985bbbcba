"""A batch's rows (`reading_rows`, one pass with cached time texts) are the rows `reading_row`
gives reading by reading, and read back as the same readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.contract import Quality, Reading
from headend.store.rows import reading_row, reading_rows, row_reading

TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(0))]),
)
VALUES = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(-(10**20), 10**20).flatmap(
        lambda raw: st.integers(-12, 12).map(lambda scaler: Decimal(raw).scaleb(scaler))
    ),
    TIMES,
    st.text(max_size=10),
)
READINGS = st.builds(
    Reading,
    meter_id=st.sampled_from(["m-1", "m-2"]),
    obis=st.sampled_from(["1.0.1.8.0.255", "0.0.1.0.0.255"]),
    value=VALUES,
    unit=st.sampled_from([None, "Wh", "V"]),
    capture_time=st.one_of(st.none(), TIMES),
    receive_time=TIMES,
    quality=st.sampled_from(list(Quality)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(READINGS, max_size=30))
def test_batch_rows_are_the_rows_of_each_reading(readings: list[Reading]) -> None:
    rows = reading_rows(readings)
    assert rows == [reading_row(reading) for reading in readings]
    # plain str and int in every column, as sqlite3 stores them
    assert all(type(part) in (str, int, type(None)) for row in rows for part in row)
    for reading, row in zip(readings, rows, strict=True):
        back = row_reading(row)
        assert back.value == reading.value
        assert back.capture_time == reading.capture_time
        assert back.receive_time == reading.receive_time
        assert back.quality is reading.quality


def test_exponents_are_written_out() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    values = [Decimal("1E+3"), Decimal("0E-8"), Decimal("1E-7"), Decimal("-12.50")]
    readings = [
        Reading(meter_id="m", obis="1.0.1.8.0.255", value=value, receive_time=now)
        for value in values
    ]
    texts = [row[5] for row in reading_rows(readings)]
    assert texts == ["1000", "0.00000000", "0.0000001", "-12.50"]

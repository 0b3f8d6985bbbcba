"""Reading a meter's event log (a Profile Generic, class 7) between two instants as MeterEvents.

The log is read as a load profile is (drivers.dlms.client.profile: its cached capture objects,
its range descriptor on the clock column, the whole buffer filtered here when the meter grants
no selective access); each row's clock and event code become one `MeterEvent` through
`drivers.dlms.events.decode_row`. The event code column is the capture object named
0.0.96.11.x.255 (the IDIS event code objects), else the first column that is not the clock.
Rows that do not fit cached capture objects make them be read again once, as for profiles.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from drivers.contract import MeterEvent, Point
from drivers.dlms import events
from drivers.dlms.client import axdr, objects, profile
from drivers.errors import DriverError, MalformedFrame, Unsupported
from drivers.obis import parse_obis

if TYPE_CHECKING:
    from drivers.dlms.client.session import DlmsSession

LOG = logging.getLogger(__name__)


async def read_events(
    session: DlmsSession, log: Point, start: datetime, end: datetime
) -> list[MeterEvent]:
    obis = objects.canonical_obis(log.obis)
    try:
        return await _read_events(session, obis, start, end)
    except DriverError as err:
        raise err.about(meter=session.meter_id, obis=obis) from None


async def _read_events(
    session: DlmsSession, obis: str, start: datetime, end: datetime
) -> list[MeterEvent]:
    cached = profile.COLUMNS.get(session.meter_id, obis, session.settings.cache_max_age_s)
    columns = await profile.capture_objects(session, obis)
    try:
        return await _read_buffer(session, obis, columns, start, end)
    except profile.RowMismatch as mismatch:
        if cached is None:
            raise  # read just now: the meter contradicts itself
        LOG.info(
            "meter %s: event log %s does not fit its cached capture objects (%s); reading them "
            "again",
            session.meter_id,
            obis,
            mismatch.cause,
        )
        profile.COLUMNS.discard(session.meter_id, obis)
        columns = await profile.capture_objects(session, obis)
        return await _read_buffer(session, obis, columns, start, end)


def _code_index(columns: list[profile.Column], clock_index: int) -> int:
    for index, column in enumerate(columns):
        a, b, c, d, _e, f = parse_obis(column.obis)
        if (a, b, c, d, f) == (0, 0, 96, 11, 255):
            return index
    for index in range(len(columns)):
        if index != clock_index:
            return index
    raise Unsupported("event log has no event code column")


async def _read_buffer(
    session: DlmsSession, obis: str, columns: list[profile.Column], start: datetime, end: datetime
) -> list[MeterEvent]:
    clock_index = next((i for i, c in enumerate(columns) if c.is_clock), None)
    if clock_index is None:
        raise Unsupported("event log has no clock column to select a time range on")
    code_index = _code_index(columns, clock_index)
    selective = session.grants("selective_access")
    access = profile.range_descriptor(columns[clock_index], start, end) if selective else None
    raw = await session.get_raw(objects.PROFILE_GENERIC, obis, objects.PROFILE_BUFFER, access)
    buffer = axdr.decode(raw)
    if not isinstance(buffer, list):
        raise MalformedFrame("event log buffer is not an array")
    low, high = _utc(start), _utc(end)
    found: list[MeterEvent] = []
    for row in buffer:
        if not isinstance(row, list) or len(row) != len(columns):
            raise profile.RowMismatch(f"event log row does not have {len(columns)} columns")
        try:
            event = events.decode_row(session.meter_id, obis, row[clock_index], row[code_index])
        except MalformedFrame as err:
            raise profile.RowMismatch(err.cause) from None
        # a meter that granted selective access has selected already; checking again costs
        # little and keeps a meter that ignores the range from handing out other days
        if low <= event.time <= high:
            found.append(event)
    return found


def _utc(when: datetime) -> datetime:
    # a naive instant is taken as UTC, the head-end's time base (as profile reads do)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

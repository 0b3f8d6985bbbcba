"""DL/T 645 history read as profiles: the daily freezes and the settlement-day data.

`Dlt645Session.read_profile` serves `1.0.99.2.0.255` from the daily freezes (05 06 00 nn time,
05 06 01 nn forward total and tariffs, 05 06 02 nn reverse) and `0.0.98.1.0.255` from the data of
the last settlements (00 0d 0t nn; the standard stores no time with them: each row is dated from
the meter's clock and its first settlement day, 04 00 0B 01). Each row gives the forward total,
the forward tariffs the meter has and the reverse total, stamped with the capture time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from drivers.contract import Reading
from drivers.dlt645.bcd import decode_datetime
from drivers.dlt645.identifiers import (
    CLOCK_OBIS,
    MAX_DAILY_FREEZES,
    MAX_SETTLEMENTS,
    SETTLEMENT_DAY_DI,
    TARIFFS,
    freeze_forward_di,
    freeze_reverse_di,
    freeze_time_di,
    item_for,
    settlement_di,
)
from drivers.errors import DriverError, MalformedFrame, ObjectUnavailable

if TYPE_CHECKING:
    from drivers.dlt645.session import Dlt645Session


async def daily_freezes(
    session: Dlt645Session, start: datetime, end: datetime, out: list[Reading]
) -> None:
    """The daily freezes (05 06 xx nn, newest first in the meter) captured in [start, end]."""
    for n in range(1, MAX_DAILY_FREEZES + 1):
        try:
            stamp = session._local_to_utc(
                decode_datetime((await session.read_di(freeze_time_di(n)))[:5], "YYMMDDhhmm")
            )
        except ObjectUnavailable:
            return  # fewer freezes stored than asked for
        if stamp < start:
            return
        if stamp > end:
            continue
        forward = await session.read_di(freeze_forward_di(n))
        # a block: the total, then tariff 1..4 when the meter has them
        tariffs = min(TARIFFS, max(len(forward) // 4 - 1, 0))
        for tariff in range(tariffs + 1):
            raw = forward[4 * tariff : 4 * tariff + 4]
            out.append(_energy(session, 1, tariff, raw, freeze_forward_di(n), stamp))
        reverse = await session.read_di(freeze_reverse_di(n))
        out.append(_energy(session, 2, 0, reverse[:4], freeze_reverse_di(n), stamp))


async def settlements(
    session: Dlt645Session, start: datetime, end: datetime, out: list[Reading]
) -> None:
    """The settlement-day data (00 0d 0t nn) of the settlements in [start, end]."""
    latest = await _last_settlement(session)
    for n in range(1, MAX_SETTLEMENTS + 1):
        stamp = session._local_to_utc(_months_back(latest, n - 1))
        if stamp > end:
            continue
        if stamp < start:
            return
        total_di = settlement_di(1, 0, n)
        try:
            total = await session.read_di(total_di)
        except ObjectUnavailable:
            return  # the meter has not lived through this settlement
        out.append(_energy(session, 1, 0, total[:4], total_di, stamp))
        for tariff in range(1, TARIFFS + 1):
            di = settlement_di(1, tariff, n)
            try:
                raw = await session.read_di(di)
            except ObjectUnavailable:
                break  # a meter with fewer tariffs
            out.append(_energy(session, 1, tariff, raw[:4], di, stamp))
        reverse_di = settlement_di(2, 0, n)
        out.append(
            _energy(session, 2, 0, (await session.read_di(reverse_di))[:4], reverse_di, stamp)
        )


async def _last_settlement(session: Dlt645Session) -> datetime:
    """The meter-local instant of the last settlement: the latest first settlement day of a
    month (DDhh, 04 00 0B 01) not after the meter's clock."""
    cache: dict[int, bytes | DriverError] = {}
    clock = await session._read_point(CLOCK_OBIS, cache)
    assert isinstance(clock.value, datetime)
    now = session._utc_to_local(clock.value)
    try:
        setting = decode_datetime((await session.read_di(SETTLEMENT_DAY_DI))[:2], "DDhh")
    except ObjectUnavailable:
        setting = datetime(2000, 1, 1)  # the standard's default: the 1st at 00:00
    if setting.day > 28:
        raise MalformedFrame(
            f"settlement day {setting.day} is outside 1..28", meter=session.meter_id
        )
    latest = now.replace(day=setting.day, hour=setting.hour, minute=0, second=0, microsecond=0)
    return latest if latest <= now else _months_back(latest, 1)


def _energy(
    session: Dlt645Session, direction: int, tariff: int, raw: bytes, di: int, stamp: datetime
) -> Reading:
    obis = f"1.0.{direction}.8.{tariff}.255"
    item = item_for(obis)
    assert item is not None  # every energy register is in the table
    return session._reading(obis, session._value(item, raw, di), item.unit, stamp)


def _months_back(when: datetime, months: int) -> datetime:
    """The same day and time `months` months earlier (days 1..28 exist in every month)."""
    index = when.year * 12 + when.month - 1 - months
    return when.replace(year=index // 12, month=index % 12 + 1)

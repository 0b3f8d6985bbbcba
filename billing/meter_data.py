"""Loading what billing works from out of the head-end's store: for a batch of meters and a
period, the cumulative registers (kWh) around the period, power outages and clock adjustments
from the meters' event logs, and, for meters whose profile has long gaps, the history estimation
draws on. One query per kind per batch (`Store.register_values`), never one per meter.

Units: energy registers are stored as the meter gives them (DLMS Wh with its scaler applied,
DL/T 645 kWh); billing works in kWh. A register the meter stamps comes as its captures (profile
and billing freezes); one it never stamps (a Modbus meter's energy register, read every few
minutes) as its reads at their receive times, all there is to interpolate a boundary from.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise, repeat

from billing.determinants.inputs import MeterData
from headend.store import Store
from headend.store.register_columns import RegisterColumns, UnitMismatch
from headend.store.scaled_ints import ScaledInts

IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"
GRID = timedelta(minutes=15)
MARGIN = timedelta(days=1)  # read this far either side of the period, for boundaries
# kWh = stored value * 10^exponent
_KWH_EXPONENT: dict[str | None, int] = {"Wh": -3, "kWh": 0, "MWh": 3, None: 0}
SCALE = {unit: exponent for unit, exponent in _KWH_EXPONENT.items() if exponent}


class UnitError(ValueError):
    """A register in a unit billing cannot convert to kWh (named: meter, OBIS, unit)."""


@dataclass(frozen=True, slots=True)
class Batch:
    meters: list[MeterData]
    rows: int  # register values read from the store


@dataclass(frozen=True, slots=True)
class KwhColumns:
    """A stored register's columns in kWh (`ColumnsLike` for determinants)."""

    times: list[datetime]
    values: Sequence[Decimal]  # `ScaledInts` when the store had whole numbers
    flagged: dict[datetime, str]


def in_kwh(column: RegisterColumns) -> KwhColumns:
    """A stored column with its values in kWh (a C-level map, no Python loop per value)."""
    exponent = _KWH_EXPONENT.get(column.unit)
    if exponent is None:
        raise UnitError(
            f"meter {column.meter_id} register {column.obis}: unit {column.unit!r} is not an "
            "energy unit billing converts (Wh, kWh, MWh)"
        )
    values = column.values
    exponent -= column.scaled_by  # the store scales as it parses (`SCALE`)
    if exponent and isinstance(values, ScaledInts):
        values = values.rescaled(exponent)
    elif exponent:
        values = list(map(Decimal.scaleb, values, repeat(exponent)))
    return KwhColumns(column.times, values, column.flagged)


def group(columns: Sequence[RegisterColumns]) -> dict[str, dict[str, KwhColumns]]:
    """kWh columns by meter and OBIS."""
    by_meter: dict[str, dict[str, KwhColumns]] = defaultdict(dict)
    for column in columns:
        by_meter[column.meter_id][column.obis] = in_kwh(column)
    return dict(by_meter)


async def load_batch(
    store: Store,
    meter_ids: Sequence[str],
    obis: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    history_days: int,
    long_gap: timedelta,
    boundaries_only: bool = False,
) -> Batch:
    """MeterData for each of `meter_ids` (in order; a meter with nothing stored gets empty
    registers, and determinants say what is missing). `boundaries_only`: only the values at the
    period's start and end (primary-key lookups): what a bill from registers needs when the
    meter read its registers there."""
    try:
        columns = await store.register_columns(
            meter_ids,
            obis,
            start - MARGIN,
            end + MARGIN,
            instants=[start, end] if boundaries_only else None,
            scale=SCALE,
        )
    except UnitMismatch as exc:
        raise UnitError(str(exc)) from None
    grouped = group(columns)
    rows = sum(len(c) for c in columns)
    needing_history = [
        m
        for m in meter_ids
        if not boundaries_only
        and _has_long_gap(grouped.get(m, {}).get(IMPORT), start, end, long_gap)
    ]
    history: dict[str, dict[str, KwhColumns]] = {}
    if needing_history and history_days > 0:
        past = await store.register_columns(
            needing_history, [IMPORT], start - timedelta(days=history_days), start, scale=SCALE
        )
        history = group(past)
        rows += sum(len(c) for c in past)
    outages, clocks = await _events(store, meter_ids, start - MARGIN, end + MARGIN)
    meters = [
        MeterData(
            meter_id=m,
            registers=grouped.get(m, {}),
            history=history.get(m, {}),
            outages=outages.get(m, []),
            clock_adjustments=clocks.get(m, []),
        )
        for m in meter_ids
    ]
    return Batch(meters, rows)


def _has_long_gap(
    column: KwhColumns | None, start: datetime, end: datetime, long_gap: timedelta
) -> bool:
    """True when the import profile leaves a stretch longer than `long_gap` of the period
    uncaptured (estimation then wants history)."""
    if column is None:
        return True
    times = column.times
    lo, hi = bisect_left(times, start), bisect_right(times, end)
    inside = times[lo:hi]
    if not inside:
        return True
    if inside[0] - start > long_gap or end - inside[-1] > long_gap:
        return True
    # a full grid has no gap worth history: the common case costs one comparison
    if len(inside) >= (end - start) // GRID + 1:
        return False
    return any(b - a > long_gap for a, b in pairwise(inside))


async def _events(
    store: Store, meter_ids: Sequence[str], since: datetime, until: datetime
) -> tuple[dict[str, list[tuple[datetime, datetime]]], dict[str, list[datetime]]]:
    """Power outages (power down .. power up, from the meters' standard event logs) and clock
    adjustments (the new time) per meter."""
    events = await store.events(meter_ids=list(meter_ids), since=since, until=until)
    outages: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    clocks: dict[str, list[datetime]] = defaultdict(list)
    down: dict[str, datetime] = {}
    for event in events:
        meter = event.meter_id
        if meter is None:
            continue
        if event.name == "power_down":
            down.setdefault(meter, event.time)
        elif event.name == "power_up" and meter in down:
            outages[meter].append((down.pop(meter), event.time))
        elif event.name in ("clock_adjusted_new", "clock_adjusted_old"):
            clocks[meter].append(event.time)
    for meter, began in down.items():  # still out at the end of what was read
        outages[meter].append((began, until))
    return dict(outages), dict(clocks)

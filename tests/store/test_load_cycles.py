"""The load manager's records in the store (SQLite and PostgreSQL): control cycles by feeder and
time (replaced on the same key), and the newest reading of an OBIS code per meter."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from drivers.contract import Reading
from headend.load.metrics import LoadCycle
from headend.store import Store
from tests.store.samples import T0, profile

POWER = "1.0.1.7.0.255"


def cycle(feeder: str, minute: int, load_kw: float | None = 410.5, **fields: object) -> LoadCycle:
    values: dict[str, object] = {
        "feeder": feeder,
        "at": T0 + timedelta(minutes=minute),
        "load_kw": load_kw,
        "capacity_kw": 400.0,
        "forecast_kw": 420.0,
        "limit_kw_total": 120.0,
        "overloaded": True,
        "overload_s": 30.0,
        "served_kwh": 99.5,
        "demanded_kwh": 101.25,
        "fairness": 0.97,
        "limited": 12,
        "disconnected": 0,
        "limit_changes": 12,
        "infeasible": False,
        "report": "12 households limited",
    }
    values.update(fields)
    return LoadCycle.model_validate(values)


async def test_cycles_are_stored_listed_and_replaced_by_feeder_and_time(store: Store) -> None:
    cycles = [cycle("f1", 0), cycle("f2", 0, load_kw=None, fairness=None), cycle("f1", 1)]
    await store.save_load_cycles(cycles)
    assert await store.load_cycles() == [cycles[0], cycles[1], cycles[2]]
    assert await store.load_cycles(feeder="f1") == [cycles[0], cycles[2]]
    assert await store.load_cycles(since=T0 + timedelta(minutes=1)) == [cycles[2]]
    redone = cycle("f1", 1, overloaded=False, infeasible=True, report="again")
    await store.save_load_cycles([redone])
    assert await store.load_cycles(feeder="f1") == [cycles[0], redone]


def power(meter_id: str, seconds: int, watts: int, *, captured: bool = True) -> Reading:
    when = T0 + timedelta(seconds=seconds)
    return Reading(
        meter_id=meter_id,
        obis=POWER,
        value=Decimal(watts),
        unit="W",
        capture_time=when if captured else None,
        receive_time=when,
    )


async def test_latest_values_are_the_newest_reading_per_meter(store: Store) -> None:
    await store.save_batch(
        [
            power("m1", 0, 100),
            power("m1", 60, 150),
            power("m2", 30, 900, captured=False),  # keyed on its receive time
            power("m3", 0, 5),
            *profile("m1", 0, 8),  # another OBIS code, later times
        ]
    )
    latest = await store.latest_values(POWER)
    assert {m: r.value for m, r in latest.items()} == {
        "m1": Decimal(150),
        "m2": Decimal(900),
        "m3": Decimal(5),
    }
    assert latest["m2"].capture_time is None
    only = await store.latest_values(POWER, ["m1", "m2", "nobody"])
    assert sorted(only) == ["m1", "m2"]
    recent = await store.latest_values(POWER, None, T0 + timedelta(seconds=30))
    assert sorted(recent) == ["m1", "m2"]
    assert await store.latest_values(POWER, []) == {}

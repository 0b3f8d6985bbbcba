"""OUR driver reads pymodbus's server serving each meter as its maker's manual describes it.

The register contents come from `manuals.py` (written from the manuals, not from our maps). Each
quantity must come back with the manual's value in head-end units and unit; the import/export
split of the signed total power is checked with a second, exporting unit. The peer refuses reads
of addresses the manual does not define, so this also checks that the driver copes with a meter
that will not be read across reserved registers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.contract import Point, Reading
from drivers.modbus import load_map, open_session, parse_url

from .manuals import EXPORTING, expected
from .peer import EXPORTING_UNIT, IMPORTING_UNIT, serial_peer, tcp_peer

MODELS = ["dtsu666", "sdm630", "sdm120"]


def _by_obis(readings: list[Reading]) -> dict[str, Reading]:
    return {r.obis: r for r in readings}


async def _read(url: str, points: list[Point]) -> list[Reading]:
    async with await open_session(parse_url(url), meter_id="peer") as session:
        return await session.read(points)


def check_manual(model: str, readings: list[Reading]) -> None:
    got = _by_obis(readings)
    for obis, (value, unit) in expected(model).items():
        assert obis in got, f"{model}: {obis} not read"
        assert got[obis].value == value, (model, obis, got[obis].value, value)
        assert got[obis].unit == unit, (model, obis, got[obis].unit, unit)


def test_maps_cover_the_manual_tables() -> None:
    """Every quantity the manual table names is mapped, and nothing else is."""
    for model in MODELS:
        assert {e.obis for e in load_map(model).registers} == set(expected(model)), model


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rtu", [False, True], ids=["tcp", "rtutcp"])
async def test_driver_against_pymodbus_tcp(model: str, rtu: bool, tcp_port: int) -> None:
    scheme = "modbus+rtutcp" if rtu else "modbus+tcp"
    base = f"{scheme}://127.0.0.1:{tcp_port}?model={model}&timeout=2"
    points = load_map(model).points()
    async with tcp_peer(model, tcp_port, rtu=rtu):
        importing = await _read(f"{base}&unit={IMPORTING_UNIT}", points)
        exporting = await _read(f"{base}&unit={EXPORTING_UNIT}", points)
    check_manual(model, importing)
    export = _by_obis(exporting)
    assert export["1.0.1.7.0.255"].value == 0
    assert export["1.0.2.7.0.255"].value == EXPORTING[model][2]
    assert export["1.0.2.7.0.255"].unit == "W"


@pytest.mark.parametrize("model", MODELS)
async def test_driver_against_pymodbus_serial_rtu(model: str) -> None:
    points = load_map(model).points()
    async with serial_peer(model) as path:
        url = f"modbus+rtu://{path}?baud=9600&parity=N&unit={IMPORTING_UNIT}&model={model}"
        readings = await _read(f"{url}&timeout=2", points)
    check_manual(model, readings)


async def test_one_quantity_at_a_time(tcp_port: int) -> None:
    """Single-point reads hit exactly the manual's address (no neighbour carries the value)."""
    async with tcp_peer("dtsu666", tcp_port):
        url = f"modbus+tcp://127.0.0.1:{tcp_port}?model=dtsu666&unit={IMPORTING_UNIT}"
        for obis, (value, unit) in expected("dtsu666").items():
            (reading,) = await _read(url, [Point(obis=obis)])
            assert (reading.value, reading.unit) == (value, unit), obis
            assert isinstance(reading.value, Decimal)


async def test_refused_gap_is_not_asked_again(tcp_port: int) -> None:
    """After the strict peer refuses a read across reserved registers, the session reads only
    gap-free runs: the second read costs exactly one request per run."""
    from drivers.modbus.plan import plan_reads

    register_map = load_map("sdm630")
    runs = plan_reads(register_map.registers, register_map.max_registers_per_request, 0)
    url = f"modbus+tcp://127.0.0.1:{tcp_port}?model=sdm630&unit={IMPORTING_UNIT}"
    async with tcp_peer("sdm630", tcp_port):
        async with await open_session(parse_url(url), meter_id="peer") as session:
            first = await session.read(session.points())
            before = session.bus.requests
            second = await session.read(session.points())
            assert session.bus.requests - before == len(runs)
    check_manual("sdm630", first)
    check_manual("sdm630", second)

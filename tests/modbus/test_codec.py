"""Register codec, coalescing, map loading and URLs (pure functions, no I/O)."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.errors import Unsupported
from drivers.modbus import load_map, parse_url
from drivers.modbus.codec import NotFinite, decode, encode, encode_raw
from drivers.modbus.plan import plan_reads
from drivers.modbus.registermap import RegisterEntry, parse_map
from drivers.modbus.settings import ModbusFraming
from drivers.transport.settings import SerialLink, TcpLink


def entry(**kw) -> RegisterEntry:
    return RegisterEntry(obis="1.0.32.7.0.255", address=0, **kw)


# 230.5 as float32 is 0x43668000: worked out by hand for each word/byte order.
@pytest.mark.parametrize(
    ("word", "byte", "registers"),
    [
        ("big", "big", [0x4366, 0x8000]),
        ("little", "big", [0x8000, 0x4366]),
        ("big", "little", [0x6643, 0x0080]),
        ("little", "little", [0x0080, 0x6643]),
    ],
)
def test_float32_orders(word: str, byte: str, registers: list[int]) -> None:
    e = entry(word_order=word, byte_order=byte)
    assert encode(Decimal("230.5"), e) == registers
    assert decode(registers, e) == Decimal("230.5")


@pytest.mark.parametrize(
    ("data_type", "value", "registers"),
    [
        ("int16", Decimal(-2), [0xFFFE]),
        ("uint16", Decimal(65535), [0xFFFF]),
        ("int32", Decimal(-100000), [0xFFFE, 0x7960]),
        ("uint32", Decimal(4000000000), [0xEE6B, 0x2800]),
        ("float64", Decimal("1.5"), [0x3FF8, 0, 0, 0]),
    ],
)
def test_types(data_type: str, value: Decimal, registers: list[int]) -> None:
    e = entry(data_type=data_type)
    assert encode(value, e) == registers
    assert decode(registers, e) == value


def test_scale_kwh_to_wh_and_shortest_float() -> None:
    e = entry(scale=Decimal(1000))
    registers = encode(Decimal(1234567), e)  # 1234.567 kWh as float32
    assert decode(registers, e) == Decimal(1234567)


def test_nan_and_inf_are_not_values() -> None:
    e = entry()
    for raw in (math.nan, math.inf, -math.inf):
        with pytest.raises(NotFinite):
            decode(encode_raw(raw, e), e)


def test_wrong_register_count() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], entry())


def test_int_out_of_range() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode(Decimal(70000), entry(data_type="uint16"))


def test_coalescing_respects_limits() -> None:
    entries = [RegisterEntry(obis=f"1.0.{i}.7.0.255", address=2 * i) for i in range(1, 11)]
    (one,) = plan_reads(entries, max_registers=125, max_gap=0)
    assert (one.start, one.count) == (2, 20)
    blocks = plan_reads(entries, max_registers=6, max_gap=0)
    assert [(b.start, b.count) for b in blocks] == [(2, 6), (8, 6), (14, 6), (20, 2)]
    far = [*entries, RegisterEntry(obis="1.0.99.7.0.255", address=100)]
    assert len(plan_reads(far, max_registers=125, max_gap=8)) == 2
    mixed = [*entries, RegisterEntry(obis="1.0.98.7.0.255", address=2, function=4)]
    assert {b.function for b in plan_reads(mixed, 125, 8)} == {3, 4}


def test_unknown_model_lists_known() -> None:
    with pytest.raises(Unsupported, match="known models: dtsu666, hes-limiter, sdm120, sdm630"):
        load_map("acme9000")
    with pytest.raises(ValueError, match="known models"):
        parse_url("modbus+tcp://h:502?unit=1&model=acme9000")


def test_bad_map_names_key() -> None:
    with pytest.raises(ValueError, match=r"registers\.0\.data_type"):
        parse_map('model="x"\n[[registers]]\nobis="1.0.1.8.0.255"\naddress=1\ndata_type="int8"\n')
    with pytest.raises(ValueError, match="mapped twice"):
        parse_map(
            'model="x"\n[[registers]]\nobis="1.0.1.8.0.255"\naddress=1\n'
            '[[registers]]\nobis="1-0:1.8.0*255"\naddress=3\n'
        )


def test_shipped_maps_follow_the_manuals() -> None:
    dtsu = load_map("dtsu666")
    imp = dtsu.entry("1.0.1.8.0.255")
    exp = dtsu.entry("1.0.2.8.0.255")
    assert imp is not None and imp.address == 0x401E and imp.scale == 1000
    assert exp is not None and exp.address == 0x4028
    volts = dtsu.entry("1.0.32.7.0.255")
    assert volts is not None and volts.address == 0x2006 and volts.function == 3
    for model in ("sdm630", "sdm120"):
        m = load_map(model)
        assert all(e.function == 4 and e.data_type == "float32" for e in m.registers)


def test_urls(tmp_path: Path) -> None:
    tcp = parse_url("modbus+tcp://10.0.0.5:1502?unit=7&model=DTSU666&timeout=2.5")
    assert tcp.link == TcpLink(host="10.0.0.5", port=1502)
    assert (tcp.framing, tcp.unit, tcp.model, tcp.timeout_s) == (
        ModbusFraming.SOCKET,
        7,
        "dtsu666",
        2.5,
    )
    rtu = parse_url("modbus+rtu:///dev/ttyUSB0?baud=19200&parity=e&unit=1&model=sdm630")
    assert rtu.link == SerialLink(device="/dev/ttyUSB0", baud=19200, parity="E")
    assert rtu.framing is ModbusFraming.RTU
    assert rtu.silence_s == pytest.approx(3.5 * 11 / 19200)
    gw = parse_url("modbus+rtutcp://gw:4001?unit=3&model=sdm120&turnaround=0.05")
    assert gw.framing is ModbusFraming.RTU and gw.silence_s == 0 and gw.turnaround_s == 0.05
    assert parse_url("modbus+tcp://h?model=sdm120").link == TcpLink(host="h", port=502)
    for bad, why in [
        ("dlms+tcp://h:1?model=sdm120", "scheme"),
        ("modbus+tcp://h:1?unit=1", "model"),
        ("modbus+tcp://h:1?model=sdm120&baud=9600", "unknown parameter"),
        ("modbus+tcp://h:1?model=sdm120&unit=300", "unit"),
        ("modbus+rtu:///dev/x?model=sdm120&parity=X", "parity"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_url(bad)

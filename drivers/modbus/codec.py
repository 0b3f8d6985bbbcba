"""Register values ↔ numbers: data type, word order, byte order, scale.

Decoding (driver side) goes through pymodbus's `convert_from_registers`; encoding (simulator side)
is our own `struct` code, so tests of one against the other check two implementations.
A float32 is turned into the shortest decimal that maps back to the same float32 (what the meter
meant, e.g. `1234.567` kWh, not `1234.5670166015625`) before it is scaled, so energies stay exact
Decimals within float32's 7 significant digits.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from decimal import Decimal

from pymodbus.client.mixin import ModbusClientMixin

from drivers.modbus.registermap import DataType, _Encoded

_DATATYPE = ModbusClientMixin.DATATYPE
_PYMODBUS_TYPES = {
    DataType.INT16: _DATATYPE.INT16,
    DataType.UINT16: _DATATYPE.UINT16,
    DataType.INT32: _DATATYPE.INT32,
    DataType.UINT32: _DATATYPE.UINT32,
    DataType.FLOAT32: _DATATYPE.FLOAT32,
    DataType.FLOAT64: _DATATYPE.FLOAT64,
}
_STRUCT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}


class NotFinite(ValueError):
    """The register holds NaN or ±Inf (a meter's way of saying "no value")."""


def _swap_bytes(registers: Sequence[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def _shortest_float32(value: float) -> str:
    packed = struct.pack(">f", value)
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if struct.pack(">f", float(text)) == packed:
            return text
    return repr(value)


def raw_number(registers: Sequence[int], enc: _Encoded) -> Decimal:
    """The unscaled number in `registers`; NotFinite for NaN/Inf; ValueError for a bad count."""
    if len(registers) != enc.count:
        raise ValueError(f"{enc.data_type} needs {enc.count} registers, got {len(registers)}")
    regs = _swap_bytes(registers) if enc.byte_order == "little" else list(registers)
    value = ModbusClientMixin.convert_from_registers(
        regs, data_type=_PYMODBUS_TYPES[enc.data_type], word_order=enc.word_order
    )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotFinite(f"register holds {value}")
        if enc.data_type is DataType.FLOAT32:
            return Decimal(_shortest_float32(value))
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    raise ValueError(f"unexpected decoded value {value!r}")


def decode(registers: Sequence[int], enc: _Encoded) -> Decimal:
    """Head-end value = raw × scale."""
    return raw_number(registers, enc) * enc.scale


def encode_raw(raw: float | int, enc: _Encoded) -> list[int]:
    """Registers holding an unscaled number (floats may be NaN/Inf: simulators inject them)."""
    code = _STRUCT[enc.data_type]
    if enc.data_type.is_float:
        data = struct.pack(f">{code}", float(raw))
    else:
        data = struct.pack(f">{code}", int(raw))
    regs = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if enc.word_order == "little":
        regs.reverse()
    return _swap_bytes(regs) if enc.byte_order == "little" else regs


def encode(value: Decimal, enc: _Encoded) -> list[int]:
    """Registers holding a head-end value (raw = value / scale); ValueError if out of range."""
    raw = value / enc.scale
    if enc.data_type.is_float:
        return encode_raw(float(raw), enc)
    integer = int(raw.to_integral_value())
    try:
        return encode_raw(integer, enc)
    except struct.error:
        raise ValueError(f"{value} does not fit {enc.data_type} at scale {enc.scale}") from None

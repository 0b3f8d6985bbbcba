"""COSEM `Data` values in A-XDR (IEC 62056-6-2 / Green Book): a small sans-IO decoder and encoder.

Compact arrays (tag 19, used by some meters for load-profile buffers) are decoded into the same
list of elements an ordinary array gives: `19, contents-description, array-contents`, where the
contents description is a TypeDescription (a simple type's tag; `1, number-of-elements
(2 bytes), element description` for an array; `2, count, descriptions` for a structure) and the
array contents an octet string (A-XDR length, then the elements packed one after the other
without their tags; variable-length types keep their length prefix).

Our own codec rather than dlms_cosem's, so that any truncated or unknown encoding is one typed
`MalformedFrame` (the library raises IndexError, KeyError, ValueError...) and decoding stays cheap.
Decoded values are plain Python: int, bool, bytes (octet-string), str, float, None, list
(array/structure) and `BitString`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from drivers.errors import MalformedFrame

NULL = 0
ARRAY = 1
STRUCTURE = 2
BOOLEAN = 3
BIT_STRING = 4
DOUBLE_LONG = 5
DOUBLE_LONG_UNSIGNED = 6
OCTET_STRING = 9
VISIBLE_STRING = 10
UTF8_STRING = 12
BCD = 13
INTEGER = 15
LONG = 16
UNSIGNED = 17
LONG_UNSIGNED = 18
COMPACT_ARRAY = 19
LONG64 = 20
LONG64_UNSIGNED = 21
ENUM = 22
FLOAT32 = 23
FLOAT64 = 24
DATE_TIME = 25
DATE = 26
TIME = 27
DONT_CARE = 255

_FIXED: dict[int, struct.Struct] = {
    DOUBLE_LONG: struct.Struct(">i"),
    DOUBLE_LONG_UNSIGNED: struct.Struct(">I"),
    INTEGER: struct.Struct(">b"),
    LONG: struct.Struct(">h"),
    UNSIGNED: struct.Struct(">B"),
    LONG_UNSIGNED: struct.Struct(">H"),
    LONG64: struct.Struct(">q"),
    LONG64_UNSIGNED: struct.Struct(">Q"),
    ENUM: struct.Struct(">B"),
    BCD: struct.Struct(">b"),
    FLOAT32: struct.Struct(">f"),
    FLOAT64: struct.Struct(">d"),
}
# date-time, date and time as their own tags carry fixed-size octet strings
_FIXED_OCTETS = {DATE_TIME: 12, DATE: 5, TIME: 4}
# nesting deeper than this is not a meter talking but an attack on the stack
_MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class BitString:
    bits: int
    data: bytes


Value: TypeAlias = "int | float | bool | bytes | str | list[Value] | BitString | None"


def decode(data: bytes) -> Value:
    """Decode exactly one Data value filling `data`; MalformedFrame if anything is left over."""
    value, end = decode_at(data, 0)
    if end != len(data):
        raise MalformedFrame(f"{len(data) - end} stray byte(s) after a COSEM data value")
    return value


def decode_at(data: bytes, pos: int, depth: int = 0) -> tuple[Value, int]:
    """Decode one Data value starting at `pos`; returns (value, position after it)."""
    if depth > _MAX_DEPTH:
        raise MalformedFrame("COSEM data nested too deeply")
    tag = _byte(data, pos)
    pos += 1
    if tag == NULL or tag == DONT_CARE:
        return None, pos
    if tag in (ARRAY, STRUCTURE):
        count, pos = _length(data, pos)
        # each element takes at least one byte: a count beyond the rest is a lie, not a wait
        if count > len(data) - pos:
            raise MalformedFrame(f"COSEM array/structure of {count} elements in a short buffer")
        items: list[Value] = []
        for _ in range(count):
            item, pos = decode_at(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if tag == COMPACT_ARRAY:
        return _compact_array(data, pos, depth)
    return _simple(tag, data, pos)


def _simple(tag: int, data: bytes, pos: int) -> tuple[Value, int]:
    """A value of a simple (non-constructed) type whose tag has been read; `pos` is after it.
    The same bytes follow the tag in a Data value and stand alone in a compact array's
    contents."""
    if tag == NULL or tag == DONT_CARE:
        return None, pos
    if tag == BOOLEAN:
        return _byte(data, pos) != 0, pos + 1
    if tag in _FIXED:
        fmt = _FIXED[tag]
        raw = _take(data, pos, fmt.size)
        number: int | float = fmt.unpack(raw)[0]
        if tag == FLOAT32:
            number = _shortest_float32(raw, number)
        return number, pos + fmt.size
    if tag in (OCTET_STRING, VISIBLE_STRING, UTF8_STRING):
        size, pos = _length(data, pos)
        raw = _take(data, pos, size)
        pos += size
        if tag == OCTET_STRING:
            return raw, pos
        try:
            return raw.decode("ascii" if tag == VISIBLE_STRING else "utf-8"), pos
        except UnicodeDecodeError:
            raise MalformedFrame("COSEM string is not valid text") from None
    if tag == BIT_STRING:
        bits, pos = _length(data, pos)
        size = (bits + 7) // 8
        return BitString(bits, _take(data, pos, size)), pos + size
    if tag in _FIXED_OCTETS:
        size = _FIXED_OCTETS[tag]
        return _take(data, pos, size), pos + size
    raise MalformedFrame(f"unknown COSEM data tag {tag}")


# integer and double types, which need no more than unpacking (FLOAT32 is shortened in _simple)
_UNPACK: dict[int, tuple[Callable[[bytes, int], tuple[int | float, ...]], int]] = {
    tag: (fmt.unpack_from, fmt.size) for tag, fmt in _FIXED.items() if tag != FLOAT32
}


def decode_table(data: bytes, width: int) -> list[list[Value]] | None:
    """An array of structures of `width` simple values each (a load-profile buffer), decoded in
    one loop: the same rows `decode` gives for it, at a fraction of the cost of decoding each
    value through `decode_at`. None for anything else (another shape, nested values, a
    truncated or malformed encoding): `decode` then gives the value or says what is wrong."""
    if not 0 < width < 0x80:
        return None
    try:
        return _table(bytes(data), width)
    except (IndexError, struct.error, MalformedFrame):
        return None


def _table(data: bytes, width: int) -> list[list[Value]] | None:
    if data[0] != ARRAY:
        return None
    count, pos = _length(data, 1)
    size = len(data)
    unpack = _UNPACK
    rows: list[list[Value]] = []
    for _ in range(count):
        if data[pos] != STRUCTURE or data[pos + 1] != width:
            return None
        pos += 2
        row: list[Value] = []
        for _ in range(width):
            tag = data[pos]
            pos += 1
            fixed = unpack.get(tag)
            if fixed is not None:
                row.append(fixed[0](data, pos)[0])
                pos += fixed[1]
            elif tag == OCTET_STRING and data[pos] < 0x80:
                end = pos + 1 + data[pos]
                if end > size:
                    return None
                row.append(data[pos + 1 : end])
                pos = end
            elif tag in (ARRAY, STRUCTURE, COMPACT_ARRAY):
                return None
            else:
                value, pos = _simple(tag, data, pos)
                row.append(value)
        rows.append(row)
    return rows if pos == size else None


@dataclass(frozen=True, slots=True)
class _ArrayOf:
    count: int
    element: Description


@dataclass(frozen=True, slots=True)
class _StructureOf:
    members: tuple[Description, ...]


# A TypeDescription: a simple type's tag, an array of n elements, or a structure.
Description: TypeAlias = "int | _ArrayOf | _StructureOf"
_VARIABLE = frozenset({OCTET_STRING, VISIBLE_STRING, UTF8_STRING, BIT_STRING})


def _compact_array(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    description, pos = _type_description(data, pos, depth)
    if _min_size(description) == 0:
        # elements of no bytes could not be counted: no meter sends them
        raise MalformedFrame("compact array of elements that take no bytes")
    size, pos = _length(data, pos)
    contents = _take(data, pos, size)
    items: list[Value] = []
    at = 0
    while at < size:
        item, at = _packed(contents, at, description)
        items.append(item)
    return items, pos + size


def _type_description(data: bytes, pos: int, depth: int) -> tuple[Description, int]:
    if depth > _MAX_DEPTH:
        raise MalformedFrame("compact array description nested too deeply")
    tag = _byte(data, pos)
    pos += 1
    if tag == ARRAY:
        count = int.from_bytes(_take(data, pos, 2), "big")
        element, pos = _type_description(data, pos + 2, depth + 1)
        return _ArrayOf(count, element), pos
    if tag == STRUCTURE:
        count, pos = _length(data, pos)
        if count > len(data) - pos:
            raise MalformedFrame(f"compact array structure of {count} members in a short buffer")
        members: list[Description] = []
        for _ in range(count):
            member, pos = _type_description(data, pos, depth + 1)
            members.append(member)
        return _StructureOf(tuple(members)), pos
    if tag in _FIXED or tag in _FIXED_OCTETS or tag in _VARIABLE or tag in (NULL, BOOLEAN):
        return tag, pos
    raise MalformedFrame(f"compact array cannot describe type {tag}")


def _min_size(description: Description) -> int:
    """Fewest bytes one packed element of this description takes."""
    if isinstance(description, int):
        if description == NULL:
            return 0
        if description == BOOLEAN or description in _VARIABLE:
            return 1
        if description in _FIXED:
            return _FIXED[description].size
        return _FIXED_OCTETS[description]
    if isinstance(description, _ArrayOf):
        return description.count * _min_size(description.element)
    return sum(_min_size(m) for m in description.members)


def _packed(data: bytes, pos: int, description: Description) -> tuple[Value, int]:
    """One element of a compact array's contents, laid out as `description` says."""
    if isinstance(description, int):
        return _simple(description, data, pos)
    if isinstance(description, _ArrayOf):
        if description.count * _min_size(description.element) > len(data) - pos:
            raise MalformedFrame("compact array contents truncated")
        items: list[Value] = []
        for _ in range(description.count):
            item, pos = _packed(data, pos, description.element)
            items.append(item)
        return items, pos
    members: list[Value] = []
    for member in description.members:
        value, pos = _packed(data, pos, member)
        members.append(value)
    return members, pos


def _shortest_float32(raw: bytes, value: float) -> float:
    """A float32 as the shortest decimal that is the same float32: a meter's 230.1 V arrives as
    230.10000610351562 when widened to a double, which no one wrote and no one should bill."""
    if value != value or value in (float("inf"), float("-inf")):
        return value
    for digits in range(6, 10):
        shorter = float(f"{value:.{digits}g}")
        if _FIXED[FLOAT32].pack(shorter) == raw:
            return shorter
    return value


def _byte(data: bytes, pos: int) -> int:
    if pos >= len(data):
        raise MalformedFrame("COSEM data value truncated")
    return data[pos]


def _take(data: bytes, pos: int, size: int) -> bytes:
    if pos + size > len(data):
        raise MalformedFrame("COSEM data value truncated")
    return bytes(data[pos : pos + size])


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A-XDR variable-length integer: one byte < 0x80, or 0x8N then N big-endian bytes."""
    first = _byte(data, pos)
    pos += 1
    if first < 0x80:
        return first, pos
    size = first & 0x7F
    if size == 0 or size > 4:
        raise MalformedFrame(f"A-XDR length of {size} bytes")
    return int.from_bytes(_take(data, pos, size), "big"), pos + size


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """An A-XDR length (or element count) at `pos`: (value, position after it)."""
    return _length(data, pos)


def read_byte(data: bytes, pos: int) -> int:
    """One byte at `pos`; MalformedFrame when the buffer ends before it."""
    return _byte(data, pos)


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


# -- encoders for the values a client sends (SET and ACTION parameters) ------------------------


def null() -> bytes:
    return bytes([NULL])


def integer(tag: int, value: int) -> bytes:
    return bytes([tag]) + _FIXED[tag].pack(value)


def octet_string(value: bytes) -> bytes:
    return bytes([OCTET_STRING]) + encode_length(len(value)) + value


def structure(*items: bytes) -> bytes:
    return bytes([STRUCTURE]) + encode_length(len(items)) + b"".join(items)


def array(items: list[bytes]) -> bytes:
    return bytes([ARRAY]) + encode_length(len(items)) + b"".join(items)

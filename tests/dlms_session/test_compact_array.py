"""Compact arrays (A-XDR tag 19, IEC 62056-6-2 / Blue Book), decoded from hand-made bytes.

    compact-array        = 0x13, contents-description, array-contents
    contents-description = a simple type's tag (0x12 long-unsigned, 0x06 double-long-unsigned,
                           0x09 octet-string...), or 0x01 + number-of-elements (2 bytes) +
                           element description, or 0x02 + member count + member descriptions
    array-contents       = an octet string: A-XDR length, then the elements packed one after
                           the other without tags (octet and visible strings keep their length)

Each case below writes out where every byte comes from.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import as_datetime
from drivers.errors import MalformedFrame


def test_simple_elements() -> None:
    # 13 compact array | 12 long-unsigned | 06 six bytes of contents | 0001 0002 0003
    assert axdr.decode(bytes.fromhex("13 12 06 0001 0002 0003")) == [1, 2, 3]


def test_structures_as_load_profile_rows() -> None:
    # 13 | 02 structure of 02 members: 06 double-long-unsigned, 12 long-unsigned
    # 0C: 12 bytes of contents = two rows of 4 + 2 bytes
    # row 1: 000004D2 = 1234, 000A = 10; row 2: 000004D3 = 1235, 000B = 11
    raw = bytes.fromhex("13 02 02 06 12 0C 000004D2 000A 000004D3 000B")
    assert axdr.decode(raw) == [[1234, 10], [1235, 11]]


def test_rows_with_a_clock_column() -> None:
    # a profile row {date-time, double-long-unsigned} as many meters pack their buffer:
    # 13 | 02 02 19 06 | 20 = 32 bytes = two rows of 12 + 4
    # date-time 07E9 03 0A 01 0C 00 00 00 0000 00: 2025-03-10 12:00:00.00, deviation 0, status 0
    t1 = bytes.fromhex("07E9030A010C000000000000")
    t2 = bytes.fromhex("07E9030A010C0F0000000000")  # 12:15
    raw = bytes.fromhex("13 02 02 19 06 20") + t1 + bytes.fromhex("0001D4C0") + t2
    raw += bytes.fromhex("0001D524")
    rows = axdr.decode(raw)
    assert rows == [[t1, 120000], [t2, 120100]]
    assert isinstance(rows, list) and isinstance(rows[1], list) and isinstance(rows[1][0], bytes)
    assert as_datetime(rows[1][0])[0] == datetime(2025, 3, 10, 12, 15, tzinfo=UTC)


def test_variable_length_members_keep_their_length() -> None:
    # 13 | 02 02 09 11: structure {octet-string, unsigned} | 06 bytes of contents
    # row 1: 02 ABCD (octet string of 2), 05; row 2: 00 (empty octet string), 07
    raw = bytes.fromhex("13 02 02 09 11 06 02ABCD05 0007")
    assert axdr.decode(raw) == [[b"\xab\xcd", 5], [b"", 7]]


def test_array_description() -> None:
    # 13 | 01 0002 0F: each element an array of 2 integers | 04 bytes | 01 FF, 02 FE
    assert axdr.decode(bytes.fromhex("13 01 0002 0F 04 01FF 02FE")) == [[1, -1], [2, -2]]


def test_empty_contents() -> None:
    assert axdr.decode(bytes.fromhex("13 12 00")) == []


def test_inside_a_structure() -> None:
    # a structure of 2: the compact array above, then unsigned 7 (the decoder goes on after it)
    raw = bytes.fromhex("02 02 13 12 04 0001 0002 11 07")
    assert axdr.decode(raw) == [[1, 2], 7]


@pytest.mark.parametrize(
    "hexed",
    [
        "13 12 06 0001 0002 00",  # contents shorter than announced
        "13 02 02 06 12 05 000004D2 00",  # 5 bytes: a 6-byte row cut short
        "13 12 05 0001 0002 00",  # 5 bytes of long-unsigned: the last element cut short
        "13 07 02 0000",  # type 7 does not exist
        "13 13 12 02 0001",  # a compact array cannot describe a compact array
        "13 00 02 0000",  # null-data elements take no bytes: they could not be counted
        "13 01 0000 12 02 0000",  # an array of 0 elements per element: same
        "13 02 03 12 02",  # a structure of 3 members with 2 descriptions
        "13 09 03 05 4142",  # an octet string longer than the contents
        "13 0A 02 01 FF",  # a visible string that is not ASCII
        "13",  # nothing after the tag
    ],
)
def test_malformed(hexed: str) -> None:
    with pytest.raises(MalformedFrame):
        axdr.decode(bytes.fromhex(hexed))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_only_malformed(tail: bytes) -> None:
    try:
        axdr.decode(b"\x13" + tail)
    except MalformedFrame:
        pass


VALID = [
    bytes.fromhex("13 02 02 06 12 0C 000004D2 000A 000004D3 000B"),
    bytes.fromhex("13 02 02 09 11 06 02ABCD05 0007"),
    bytes.fromhex("13 01 0002 0F 04 01FF 02FE"),
]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VALID), st.integers(0, 63), st.integers(0, 255))
def test_mutated_bytes_only_malformed(raw: bytes, where: int, byte: int) -> None:
    mutated = bytearray(raw)
    mutated[where % len(raw)] = byte
    try:
        axdr.decode(bytes(mutated))
    except MalformedFrame:
        pass

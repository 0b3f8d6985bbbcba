"""CRC-16/X.25 as used for the HDLC header (HCS) and frame (FCS) check sequences, IEC 62056-46.

Reflected polynomial 0x8408, initial value 0xFFFF, final XOR 0xFFFF; the two bytes go on the wire
least significant byte first.
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def check_sequence(data: bytes | bytearray | memoryview) -> bytes:
    """The HCS/FCS bytes for `data`, in wire order."""
    return crc16(data).to_bytes(2, "little")

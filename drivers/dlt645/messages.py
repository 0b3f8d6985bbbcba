"""Requests of the DL/T 645-2007 services this driver uses, and their data fields (sans-IO).

- read (0x11): DI0..DI3; reply 0x91 = DI + value, 0xB1 = the same with more to follow, 0xD1 = ERR.
- read follow-up (0x12): DI + SEQ (1, 2, ...); reply 0x92/0xB2 = DI + data + SEQ, 0xD2 = ERR.
- read address (0x13) to `AAAAAAAAAAAA`: the only meter on the line answers 0x93 with its address.
- time broadcast (0x08) to `999999999999`: data `YYMMDDhhmmss` (sent ss first); nobody answers.
- relay control (0x1C): PA P0 P1 P2 (password), C0..C3 (operator), N1 (command), N2 (reserved),
  N3..N8 (valid until, `YYMMDDhhmmss`); reply 0x9C without data or 0xDC + ERR. This is the plain
  form: the ESAM-encrypted form (password level 98, N1..N8 ciphered) is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from drivers.dlt645.bcd import decode_datetime, encode_datetime
from drivers.dlt645.frame import (
    BROADCAST_ADDRESS,
    DIRECTION_BIT,
    WILDCARD_ADDRESS,
    Frame,
    Function,
    address_to_wire,
)
from drivers.dlt645.identifiers import di_wire
from drivers.errors import MalformedFrame

TIME_FIELDS = "YYMMDDhhmmss"
ESAM_LEVEL = 0x98  # password level that announces the ESAM-encrypted relay form


class RelayAction(IntEnum):
    TRIP = 0x1A
    CLOSE_ALLOWED = 0x1B
    CLOSE_DIRECT = 0x1C


def read_request(address: bytes, di: int) -> Frame:
    return Frame(address, Function.READ, di_wire(di))


def followup_request(address: bytes, di: int, seq: int) -> Frame:
    return Frame(address, Function.READ_FOLLOWUP, di_wire(di) + bytes([seq & 0xFF]))


def read_address_request() -> Frame:
    return Frame(address_to_wire(WILDCARD_ADDRESS), Function.READ_ADDRESS)


def time_broadcast(local_time: datetime) -> Frame:
    """Broadcast time sync with the meter's local wall time (naive or aware: fields are used)."""
    return Frame(
        address_to_wire(BROADCAST_ADDRESS),
        Function.TIME_BROADCAST,
        encode_datetime(local_time, TIME_FIELDS),
    )


def reply_control(request: Frame, *, abnormal: bool = False, followup: bool = False) -> int:
    return request.function | DIRECTION_BIT | (0x40 if abnormal else 0) | (0x20 if followup else 0)


@dataclass(frozen=True, slots=True)
class RelayRequest:
    """The decoded data field of a relay-control request (simulator side). Holds secrets."""

    password: bytes  # as configured: level, then password most significant first
    operator_code: bytes  # as printed
    action: int
    valid_until: datetime

    def __repr__(self) -> str:
        return f"RelayRequest(action=0x{self.action:02X}, valid_until={self.valid_until})"


def relay_request(
    address: bytes,
    *,
    password: bytes,
    operator_code: bytes,
    action: RelayAction,
    valid_until: datetime,
) -> Frame:
    if len(password) != 4 or len(operator_code) != 4:
        raise ValueError("password and operator code are 4 bytes each")
    data = (
        password[:1]  # PA: privilege level
        + bytes(reversed(password[1:]))  # P0 P1 P2, low byte first
        + bytes(reversed(operator_code))  # C0..C3, low byte first
        + bytes([action, 0x00])
        + encode_datetime(valid_until, TIME_FIELDS)
    )
    return Frame(address, Function.RELAY_CONTROL, data)


def parse_relay_request(data: bytes) -> RelayRequest:
    if len(data) != 16:
        raise MalformedFrame(f"DL/T 645: relay control data is {len(data)} bytes, expected 16")
    return RelayRequest(
        password=data[:1] + bytes(reversed(data[1:4])),
        operator_code=bytes(reversed(data[4:8])),
        action=data[8],
        valid_until=decode_datetime(data[10:16], TIME_FIELDS),
    )

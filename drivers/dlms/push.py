"""DLMS push of meter events, sans-IO: the DataNotification APDU and the event push body.

A push setup object (class 40) names what a meter sends when it pushes. The event push used
here (IDIS style) has the push object list
    {40, 0.0.25.9.0.255, 1}  the push setup's logical name (tells the receiver which push),
    {1,  0.0.42.0.0.255, 2}  the COSEM logical device name (identifies the meter),
    {1,  0.0.96.11.0.255, 2} the event code,
    {8,  0.0.1.0.0.255, 2}   the clock: the meter's time of the event,
and the body of the DataNotification is a structure of those values, in that order.

DataNotification (Green Book, tag 15): long-invoke-id-and-priority (4 bytes), date-time
(an OCTET STRING: 0x00 when absent, else its length 12 and the date-time), notification-body
(one A-XDR Data value). dlms-cosem writes a present date-time with a 0x01 length byte; a
parser here accepts that too. A ciphered push (general-glo-ciphering and the like) is
recognised by its tag, so that a receiver can refuse it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import decode_datetime, encode_datetime
from drivers.errors import MalformedFrame
from drivers.obis import format_obis, parse_obis

DATA_NOTIFICATION = 0x0F
# glo-/ded-data-notification (0x77/0x7F... are not used by IDIS), general-glo-, general-ded-,
# general-ciphering and general-signing: a protected APDU the plain receiver cannot read
CIPHERED_TAGS = frozenset({0xDB, 0xDC, 0xDD, 0xDF})

PUSH_SETUP = 40
PUSH_SETUP_OBIS = "0.0.25.9.0.255"
LOGICAL_DEVICE_NAME = "0.0.42.0.0.255"
EVENT_CODE_OBIS = "0.0.96.11.0.255"
CLOCK_OBIS = "0.0.1.0.0.255"
# (class, OBIS, attribute) of the event push's object list, in body order
EVENT_PUSH_OBJECTS = (
    (PUSH_SETUP, PUSH_SETUP_OBIS, 1),
    (1, LOGICAL_DEVICE_NAME, 2),
    (1, EVENT_CODE_OBIS, 2),
    (8, CLOCK_OBIS, 2),
)
# the client SAP of IDIS's pre-established push association: the wrapper's destination wPort
PUSH_CLIENT_SAP = 0x66
# send_destination_and_method: transport_service 0 = TCP, message_type 0 = A-XDR xDLMS APDU
TRANSPORT_TCP = 0
MESSAGE_AXDR = 0


@dataclass(frozen=True, slots=True)
class EventPush:
    """What an event push says: who (logical device name), which event, when."""

    device_name: bytes
    code: int
    time: datetime
    invoke_id: int = 0
    sent_at: datetime | None = None


def encode_event_push(push: EventPush) -> bytes:
    """The DataNotification APDU of an event push."""
    body = axdr.structure(
        axdr.octet_string(bytes(parse_obis(PUSH_SETUP_OBIS))),
        axdr.octet_string(push.device_name),
        axdr.integer(axdr.UNSIGNED if push.code <= 0xFF else axdr.LONG_UNSIGNED, push.code),
        axdr.octet_string(encode_datetime(push.time)),
    )
    when = b"\x00" if push.sent_at is None else b"\x0c" + encode_datetime(push.sent_at)
    invoke = (push.invoke_id & 0x00FFFFFF).to_bytes(4, "big")
    return bytes([DATA_NOTIFICATION]) + invoke + when + body


def parse_event_push(apdu: bytes) -> EventPush:
    """An event push from a DataNotification APDU; MalformedFrame saying why it is none."""
    if not apdu:
        raise MalformedFrame("empty APDU")
    if apdu[0] in CIPHERED_TAGS:
        raise MalformedFrame(f"ciphered APDU (tag 0x{apdu[0]:02X}) where a plain push belongs")
    if apdu[0] != DATA_NOTIFICATION:
        raise MalformedFrame(f"APDU tag 0x{apdu[0]:02X} is not a DataNotification (0x0F)")
    if len(apdu) < 6:
        raise MalformedFrame("DataNotification shorter than its header")
    invoke_id = int.from_bytes(apdu[1:5], "big") & 0x00FFFFFF
    size = apdu[5]
    pos = 6
    sent_at: datetime | None = None
    if size:
        if size not in (12, 1):  # 1: dlms-cosem's encoding of "present"
            raise MalformedFrame(f"DataNotification date-time of {size} bytes")
        sent_at, _ = decode_datetime(apdu[pos : pos + 12])
        pos += 12
    body, end = axdr.decode_at(apdu, pos)
    if end != len(apdu):
        raise MalformedFrame(f"{len(apdu) - end} bytes after the notification body")
    return _event_body(body, invoke_id, sent_at)


def _event_body(body: axdr.Value, invoke_id: int, sent_at: datetime | None) -> EventPush:
    if not isinstance(body, list) or len(body) not in (3, 4):
        raise MalformedFrame("notification body is not the event push structure")
    if len(body) == 4:
        setup = body[0]
        if not isinstance(setup, bytes) or len(setup) != 6:
            raise MalformedFrame("the push setup's logical name is not 6 octets")
        if format_obis(tuple(setup)) != PUSH_SETUP_OBIS:
            raise MalformedFrame(f"push from {format_obis(tuple(setup))}, not the event push")
        body = body[1:]
    name, code, clock = body
    if not isinstance(name, bytes) or not name:
        raise MalformedFrame("no logical device name in the push")
    if isinstance(code, bool) or not isinstance(code, int) or code < 0:
        raise MalformedFrame(f"event code {code!r} is not an unsigned number")
    if not isinstance(clock, bytes):
        raise MalformedFrame("no event time in the push")
    when, _status = decode_datetime(clock)
    return EventPush(name, code, when, invoke_id, sent_at)

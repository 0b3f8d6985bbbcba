"""xDLMS request parsing and reply encoding for the server side (IEC 62056-5-3, A-XDR).

dlms-cosem's request classes parse SET and ACTION; GET requests are parsed here because its
parser cannot read entry descriptors or selected columns. Replies are encoded here byte by byte
(small fixed layouts), echoing the request's invoke-id-and-priority byte.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from dlms_cosem.dlms_data import encode_variable_integer
from dlms_cosem.enumerations import (
    ActionResultStatus,
    DataAccessResult,
    ServiceException,
    StateException,
)

from drivers.dlms.server import values as v

GET_REQUEST, SET_REQUEST, ACTION_REQUEST = 0xC0, 0xC1, 0xC3
GET_RESPONSE, SET_RESPONSE, ACTION_RESPONSE = 0xC4, 0xC5, 0xC7
EXCEPTION_RESPONSE = 0xD8
GENERAL_GLO_CIPHER = 0xDB
# service-specific global ciphering: glo-get/set/action-request, and the reply tag for each plain
# response (get-response C4 -> glo-get-response CC, set C5 -> CD, action C7 -> CF)
GLO_REQUESTS = frozenset({0xC8, 0xC9, 0xCB})
GLO_RESPONSES = {0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
AARQ, AARE, RLRQ, RLRE = 0x60, 0x61, 0x62, 0x63

NORMAL, NEXT, WITH_LIST = 1, 2, 3
WITH_BLOCK = 2  # response type of a GET reply in blocks
DESCRIPTOR_SIZE = 9  # class id (2), logical name (6), attribute or method id (1)


class BadRequest(Exception):
    """A request APDU the server cannot parse."""


@dataclass(frozen=True, slots=True)
class AttributeRef:
    class_id: int
    obis: str
    attribute: int
    selector: int | None = None
    params: Any = None


@dataclass(frozen=True, slots=True)
class GetNormal:
    invoke: int
    ref: AttributeRef


@dataclass(frozen=True, slots=True)
class GetNext:
    invoke: int
    block_number: int


@dataclass(frozen=True, slots=True)
class GetList:
    invoke: int
    refs: list[AttributeRef]


def _descriptor(raw: bytes) -> tuple[int, str, int]:
    if len(raw) < DESCRIPTOR_SIZE:
        raise BadRequest("truncated attribute descriptor")
    class_id = int.from_bytes(raw[0:2], "big")
    return class_id, _obis_text(bytes(raw[2:8])), raw[8]


@functools.lru_cache(maxsize=4096)
def _obis_text(groups: bytes) -> str:
    # cached: every meter is asked for the same few dozen logical names
    return ".".join(str(b) for b in groups)


def _attribute_with_selection(raw: bytes) -> tuple[AttributeRef, bytes]:
    class_id, obis, attribute = _descriptor(raw)
    rest = raw[DESCRIPTOR_SIZE:]
    if not rest:
        raise BadRequest("missing access-selection flag")
    if rest[0] == 0:
        return AttributeRef(class_id, obis, attribute), rest[1:]
    if len(rest) < 2:
        raise BadRequest("missing access selector")
    selector = rest[1]
    try:
        params, tail = v.parse_data(rest[2:])
    except v.BadValue as exc:
        raise BadRequest(f"access parameters: {exc}") from None
    return AttributeRef(class_id, obis, attribute, selector, params), tail


def parse_get(apdu: bytes) -> GetNormal | GetNext | GetList:
    if len(apdu) < 3 or apdu[0] != GET_REQUEST:
        raise BadRequest("not a GET request")
    kind, invoke, body = apdu[1], apdu[2], apdu[3:]
    if kind == NORMAL:
        ref, tail = _attribute_with_selection(body)
        if tail:
            raise BadRequest(f"{len(tail)} bytes after the GET request")
        return GetNormal(invoke, ref)
    if kind == NEXT:
        if len(body) != 4:
            raise BadRequest("GET next needs a 4-byte block number")
        return GetNext(invoke, int.from_bytes(body, "big"))
    if kind == WITH_LIST:
        if not body:
            raise BadRequest("empty GET with list")
        count, body = _variable_integer(body)
        refs = []
        for _ in range(count):
            ref, body = _attribute_with_selection(body)
            refs.append(ref)
        if body:
            raise BadRequest(f"{len(body)} bytes after the GET list")
        return GetList(invoke, refs)
    raise BadRequest(f"GET request type {kind}")


def _variable_integer(raw: bytes) -> tuple[int, bytes]:
    first = raw[0]
    if first < 0x80:
        return first, raw[1:]
    size = first & 0x7F
    if size == 0 or len(raw) < 1 + size:
        raise BadRequest("bad variable-length integer")
    return int.from_bytes(raw[1 : 1 + size], "big"), raw[1 + size :]


# -- replies ---------------------------------------------------------------------------------


def get_normal(invoke: int, data: bytes) -> bytes:
    return bytes([GET_RESPONSE, NORMAL, invoke, 0]) + data


def get_error(invoke: int, result: DataAccessResult) -> bytes:
    return bytes([GET_RESPONSE, NORMAL, invoke, 1, result])


def get_block(invoke: int, last: bool, number: int, raw: bytes) -> bytes:
    return (
        bytes([GET_RESPONSE, WITH_BLOCK, invoke, 1 if last else 0])
        + number.to_bytes(4, "big")
        + b"\x00"
        + bytes(encode_variable_integer(len(raw)))
        + raw
    )


def get_block_error(invoke: int, number: int, result: DataAccessResult) -> bytes:
    return (
        bytes([GET_RESPONSE, WITH_BLOCK, invoke, 1])
        + number.to_bytes(4, "big")
        + bytes([1, result])
    )


def list_results(results: list[bytes | DataAccessResult]) -> bytes:
    out = bytearray(bytes(encode_variable_integer(len(results))))
    for item in results:
        if isinstance(item, DataAccessResult):
            out += bytes([1, item])
        else:
            out += b"\x00" + item
    return bytes(out)


def get_list(invoke: int, encoded_results: bytes) -> bytes:
    return bytes([GET_RESPONSE, WITH_LIST, invoke]) + encoded_results


def set_normal(invoke: int, result: DataAccessResult) -> bytes:
    return bytes([SET_RESPONSE, NORMAL, invoke, result])


def action_normal(invoke: int, status: ActionResultStatus, data: bytes | None = None) -> bytes:
    head = bytes([ACTION_RESPONSE, NORMAL, invoke, status])
    return head + (b"\x01\x00" + data if data is not None else b"\x00")


def exception(
    state: StateException, service: ServiceException, counter: int | None = None
) -> bytes:
    tail = counter.to_bytes(4, "big") if counter is not None else b""
    return bytes([EXCEPTION_RESPONSE, state, service]) + tail


def general_glo_cipher(system_title: bytes, control: bytes, counter: int, ciphered: bytes) -> bytes:
    content = control + counter.to_bytes(4, "big") + ciphered
    return (
        bytes([GENERAL_GLO_CIPHER, len(system_title)])
        + system_title
        + bytes(encode_variable_integer(len(content)))
        + content
    )


def parse_general_glo_cipher(apdu: bytes) -> tuple[bytes, int, int, bytes]:
    """(client system title, security control byte, invocation counter, ciphered text)."""
    if len(apdu) < 2 or apdu[0] != GENERAL_GLO_CIPHER:
        raise BadRequest("not a general-glo-cipher APDU")
    title_len = apdu[1]
    title = apdu[2 : 2 + title_len]
    if len(title) != title_len:
        raise BadRequest("truncated system title")
    rest = apdu[2 + title_len :]
    if not rest:
        raise BadRequest("missing ciphered content")
    if rest[0] == len(rest) - 1:
        # dlms-cosem 25.1 writes this length as one raw byte even above 127; accept that too.
        length, content = rest[0], rest[1:]
    else:
        length, content = _variable_integer(rest)
    if length != len(content) or length < 5:
        raise BadRequest("ciphered content length does not match")
    return title, content[0], int.from_bytes(content[1:5], "big"), content[5:]


def parse_glo_request(apdu: bytes) -> tuple[int, int, bytes]:
    """(security control byte, invocation counter, ciphered text) of a glo-xxx-request."""
    if len(apdu) < 2 or apdu[0] not in GLO_REQUESTS:
        raise BadRequest("not a service-specific glo request")
    length, content = _variable_integer(apdu[1:])
    if length != len(content) or length < 5:
        raise BadRequest("ciphered content length does not match")
    return content[0], int.from_bytes(content[1:5], "big"), content[5:]


def glo_response(tag: int, control: bytes, counter: int, ciphered: bytes) -> bytes:
    content = control + counter.to_bytes(4, "big") + ciphered
    return bytes([tag]) + bytes(encode_variable_integer(len(content))) + content

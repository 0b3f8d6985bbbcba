"""GET-with-list replies (IEC 62056-5-3 Get-Response-With-List), parsed with our own A-XDR code.

dlms-cosem 25.1 encodes `GetRequestWithList` correctly, and we use it for the request. Its
`GetResponseWithList` parser is not usable: it reads the result count as one byte, and it decodes
every value through its own data classes, which raise NotImplementedError for float32 and compact
arrays (common in meters). So a with-list reply is parsed here into a list of results, each a
decoded value (`drivers.dlms.client.axdr`) or an `AccessError` with the item's
Data-Access-Result; the same parser reads the raw data of a with-list reply that came in data blocks
(`GetResponseWithBlock`, whose raw data is the encoded SEQUENCE OF Get-Data-Result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from dlms_cosem.protocol import xdlms

from drivers.dlms.client import axdr
from drivers.errors import MalformedFrame

GET_RESPONSE = 0xC4
WITH_LIST = 3
DATA, DATA_ACCESS_RESULT = 0, 1


@dataclass(frozen=True, slots=True)
class AccessError:
    """One item of a with-list reply that the meter refused (its Data-Access-Result)."""

    code: int


ListResult: TypeAlias = "axdr.Value | AccessError"


def is_list_response(apdu: bytes | bytearray) -> bool:
    return len(apdu) >= 2 and apdu[0] == GET_RESPONSE and apdu[1] == WITH_LIST


def parse_results(raw: bytes) -> list[ListResult]:
    """SEQUENCE OF Get-Data-Result: a count, then per item 0 + Data or 1 + Data-Access-Result."""
    count, pos = axdr.read_length(raw, 0)
    # every result takes at least two bytes: a larger count is a lie, not a reason to wait
    if count * 2 > len(raw) - pos:
        raise MalformedFrame(f"GET-with-list reply announces {count} results in a short buffer")
    results: list[ListResult] = []
    for _ in range(count):
        choice = axdr.read_byte(raw, pos)
        pos += 1
        if choice == DATA:
            value, pos = axdr.decode_at(raw, pos)
            results.append(value)
        elif choice == DATA_ACCESS_RESULT:
            results.append(AccessError(axdr.read_byte(raw, pos)))
            pos += 1
        else:
            raise MalformedFrame(f"GET-with-list result choice {choice}")
    if pos != len(raw):
        raise MalformedFrame(f"{len(raw) - pos} stray byte(s) after the GET-with-list results")
    return results


def parse_response(apdu: bytes) -> Any:
    """A plain get-response-with-list APDU as dlms-cosem's `GetResponseWithList` (the type its
    state machine expects), carrying our parsed results in `response_data`.

    Gurux's servers (the Python one, and its C#/Java stacks share the code) send the first
    block of a long with-list reply under response type 3 rather than 2 (with-datablock), and
    without the raw-data choice byte: `C4 03 invoke last-block block-number length raw`. Such
    an APDU does not parse as a list of results; when it parses exactly as that block form it
    is taken as the first `GetResponseWithBlock`.
    """
    if not is_list_response(apdu) or len(apdu) < 3:
        raise MalformedFrame("not a get-response-with-list")
    invoke = xdlms.InvokeIdAndPriority.from_bytes(apdu[2:3])
    try:
        results = parse_results(bytes(apdu[3:]))
    except MalformedFrame:
        block = _gurux_first_block(bytes(apdu[3:]), invoke)
        if block is None:
            raise
        return block
    return xdlms.GetResponseWithList(response_data=results, invoke_id_and_priority=invoke)


def _gurux_first_block(body: bytes, invoke: Any) -> Any:
    if len(body) < 6 or body[0] != 0:
        return None
    number = int.from_bytes(body[1:5], "big")
    try:
        length, pos = axdr.read_length(body, 5)
    except MalformedFrame:
        return None
    if number != 1 or length != len(body) - pos or length == 0:
        return None
    return xdlms.GetResponseWithBlock(bytes(body[pos:]), number, invoke)

"""GET of several attributes for one session: GET-with-list requests sized to what the meter
receives, or one GET each when the meter does not grant lists or refuses them.

The with-list replies themselves are parsed in `list_replies`; this module decides how attributes
are batched and turns each result into a value or a typed error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dlms_cosem.cosem import CosemAttributeWithSelection
from dlms_cosem.protocol import xdlms

from drivers.dlms.client import axdr, faults, list_replies
from drivers.dlms.client.descriptors import cosem_attribute
from drivers.dlms.client.exchange import ApduExchange, unexpected_reply
from drivers.errors import DriverError, ProtocolError

LOG = logging.getLogger(__name__)

# a GET-with-list request: tag, type, invoke id and count around 10 bytes per attribute
# descriptor (class, logical name, attribute, no access selection); general-glo-ciphering adds
# its header (tag, system title, length, security control, invocation counter) and the GCM tag
LIST_REQUEST_OVERHEAD = 4
LIST_ITEM_BYTES = 10
GLO_OVERHEAD = 28

# one plain GET: (class id, canonical OBIS, attribute) -> decoded value
GetOne = Callable[[int, str, int], Awaitable[axdr.Value]]


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """One attribute to GET (canonical OBIS)."""

    class_id: int
    obis: str
    attribute: int


class _ListRefused(Exception):
    """The meter answered a GET-with-list request as a whole with an error."""


def _describe(reply: Any) -> str:
    if isinstance(reply, xdlms.ExceptionResponse):
        return f"exception-response {reply.state_error.name}/{reply.service_error.name}"
    return f"data-access-result {faults.access_result_name(int(reply.error))}"


class ListGetter:
    """GET-with-list for one session; remembers when the meter refused a list."""

    def __init__(self, exchange: ApduExchange) -> None:
        self._exchange = exchange
        self.refused = False

    @property
    def usable(self) -> bool:
        """GET-with-list is used when the meter granted multiple-references, `max_list` allows
        more than one attribute, and the meter has not refused a list in this session."""
        return (
            self._exchange.settings.max_list > 1
            and not self.refused
            and self._exchange.grants("multiple_references")
        )

    def _size(self) -> int:
        # a request must fit the meter's receive size: 10 bytes per attribute descriptor
        conn = self._exchange.conn
        meter_pdu: int = conn.max_pdu_size
        overhead = LIST_REQUEST_OVERHEAD + (GLO_OVERHEAD if conn.use_protection else 0)
        room = (meter_pdu - overhead) // LIST_ITEM_BYTES
        return max(1, min(self._exchange.settings.max_list, room))

    async def get_attributes(
        self, refs: Sequence[AttributeRef], get_one: GetOne
    ) -> list[axdr.Value | DriverError]:
        """One result per attribute, its value or a typed error (see `DlmsSession`)."""
        exchange = self._exchange
        meter_id = exchange.meter_id
        results: list[axdr.Value | DriverError] = []
        pos = 0
        while pos < len(refs):
            if exchange.broken is not None:
                err = exchange.broken
                results.extend(
                    type(err)(f"not read: {err.cause}", meter=meter_id, obis=ref.obis)
                    for ref in refs[pos:]
                )
                break
            size = self._size() if self.usable else 1
            if size > 1 and len(refs) - pos > 1:
                batch = refs[pos : pos + size]
                try:
                    results.extend(await self._get_with_list(batch))
                except _ListRefused as refused:
                    LOG.info("meter %s: GET-with-list refused (%s)", meter_id, refused)
                    self.refused = True
                    continue
                except DriverError as err:
                    results.append(err.about(meter=meter_id, obis=batch[0].obis))
                    results.extend(
                        type(err)(f"not read: {err.cause}", meter=meter_id, obis=ref.obis)
                        for ref in batch[1:]
                    )
                pos += len(batch)
                continue
            ref = refs[pos]
            try:
                results.append(await get_one(ref.class_id, ref.obis, ref.attribute))
            except DriverError as err:
                results.append(err.about(meter=meter_id, obis=ref.obis))
            pos += 1
        return results

    async def _get_with_list(self, batch: Sequence[AttributeRef]) -> list[axdr.Value | DriverError]:
        exchange = self._exchange
        request = xdlms.GetRequestWithList(
            cosem_attributes_with_selection=[
                CosemAttributeWithSelection(
                    cosem_attribute(ref.class_id, ref.obis, ref.attribute), None
                )
                for ref in batch
            ]
        )
        reply = await exchange.transact(request)
        if isinstance(reply, xdlms.GetResponseWithList):
            items: list[list_replies.ListResult] = list(reply.response_data)
        elif isinstance(reply, xdlms.GetResponseWithBlock | xdlms.GetResponseLastBlock):
            # a with-list reply in data blocks: the raw data is the encoded list of results
            try:
                raw = await exchange.blocks(reply, "GET-with-list", None)
            except DriverError as err:
                if exchange.broken is not None:
                    raise
                # the meter ended its blocks with a data-access-result for the whole list
                # (Gurux's Python server cannot continue a list in blocks): read one by one
                raise _ListRefused(f"blocks ended with {err.cause}") from None
            items = list_replies.parse_results(raw)
        elif isinstance(
            reply,
            xdlms.ExceptionResponse
            | xdlms.GetResponseNormalWithError
            | xdlms.GetResponseLastBlockWithError,
        ):
            raise _ListRefused(_describe(reply))
        else:
            raise exchange.fail(unexpected_reply(reply, "GET-with-list"))
        if len(items) != len(batch):
            raise exchange.fail(
                ProtocolError(f"GET-with-list: {len(items)} results for {len(batch)} attributes")
            )
        results: list[axdr.Value | DriverError] = []
        for ref, item in zip(batch, items, strict=True):
            if isinstance(item, list_replies.AccessError):
                results.append(
                    faults.get_error(item.code).about(meter=exchange.meter_id, obis=ref.obis)
                )
            else:
                results.append(item)
        return results

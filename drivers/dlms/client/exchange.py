"""The request/reply machinery under `DlmsSession`: one APDU at a time through dlms-cosem's
`DlmsConnection` (ciphering, state machine, parsing) and our own `ApduLink` (framing, I/O).

Every request has its own whole-reply deadline (`settings.timeout_s`). A failure inside a request
(timeout, closed channel, garbage, replay) leaves the association in an unknown state, so the
exchange is then marked broken and refuses further requests; a refusal by the meter
(object-undefined...) leaves it usable. GET replies sent in data blocks are followed here too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import structlog
from dlms_cosem import enumerations as dlms_enums
from dlms_cosem.protocol import xdlms

from drivers.dlms.client import faults
from drivers.dlms.client.connection import CipheringConnection, as_general_glo
from drivers.dlms.client.counters import CounterReservation
from drivers.dlms.link import ApduLink
from drivers.dlms.settings import DlmsSettings
from drivers.errors import ChannelDown, DriverError, MalformedFrame, ProtocolError, Unsupported

# a babbling meter must not make us assemble an endless GET: a whole attribute above this is refused
MAX_ATTRIBUTE_BYTES = 8 * 1024 * 1024
# data-access-results with which meters refuse a reply too long for one APDU when block
# transfer is not granted: hardware-fault, temporary-failure, other-reason
BLOCKLESS_REFUSALS = frozenset({1, 2, 250})


def _quiet_dlms_cosem() -> None:
    """dlms-cosem logs every APDU at info level through structlog, which costs about 5x per
    request. Give its module loggers a warning-level filter, leaving the application's own
    structlog configuration alone."""
    import dlms_cosem.client
    import dlms_cosem.connection
    import dlms_cosem.state

    # a concrete filtering logger: the lazy proxy structlog.get_logger() returns re-binds on
    # every call, which costs even when the level filter then drops the message
    wrapper: Any = structlog.make_filtering_bound_logger(logging.WARNING)
    quiet = wrapper(structlog.PrintLogger(), [], {})
    for module in (dlms_cosem.connection, dlms_cosem.state, dlms_cosem.client):
        module.LOG = quiet  # type: ignore[attr-defined]
    try:
        import dlms_cosem.io

        dlms_cosem.io.LOG = quiet  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass


_quiet_dlms_cosem()


def unexpected_reply(reply: Any, service: str) -> DriverError:
    """The error for a reply that is no answer to `service` (the caller breaks the session)."""
    if isinstance(reply, xdlms.ExceptionResponse):
        return ProtocolError(
            f"{service}: meter raised {reply.state_error.name}/{reply.service_error.name}"
        )
    if isinstance(reply, xdlms.ConfirmedServiceError):
        return ProtocolError(f"{service}: confirmed service error {reply.error!r}")
    return ProtocolError(f"{service}: unexpected reply {type(reply).__name__}")


def _too_long(reply: Any) -> bool:
    return (
        isinstance(reply, xdlms.ExceptionResponse)
        and reply.service_error is dlms_enums.ServiceException.PDU_TOO_LONG
    )


class ApduExchange:
    """Requests of one association, one at a time; `broken` holds the failure that ended it."""

    def __init__(
        self,
        settings: DlmsSettings,
        link: ApduLink,
        connection: CipheringConnection,
        *,
        meter_id: str,
        counters: CounterReservation | None,
    ) -> None:
        self.settings = settings
        self.meter_id = meter_id
        self.conn = connection
        self._link = link
        self._counters = counters
        self._lock = asyncio.Lock()
        self.broken: DriverError | None = None
        self.closed = False

    def grants(self, service: str) -> bool:
        """Whether the negotiated conformance block has `service` (a dlms-cosem Conformance
        field name such as "multiple_references" or "selective_access")."""
        return bool(getattr(self.conn.granted, service, False))

    async def transact(self, request: Any, obis: str | None = None) -> Any:
        """Send one APDU, return the reply APDU (deciphered, parsed). Typed errors only."""
        async with self._lock:
            if self.closed:
                raise ChannelDown("session is closed", meter=self.meter_id, obis=obis)
            if self.broken is not None:
                raise ChannelDown(
                    f"session unusable after an earlier failure ({self.broken.kind})",
                    meter=self.meter_id,
                    obis=obis,
                )
            deadline = asyncio.get_running_loop().time() + self.settings.timeout_s
            try:
                if self._counters is not None:
                    # may jump to a new block reserved beyond another session's
                    self.conn.client_invocation_counter = await self._counters.ensure(
                        self.conn.client_invocation_counter
                    )
                try:
                    out = self.conn.send(request)
                except Exception as exc:
                    raise ProtocolError(f"cannot send {type(request).__name__}: {exc}") from exc
                reply = await self._link.exchange(out, deadline)
                reply = as_general_glo(reply, self.conn.meter_system_title)
                self.conn.clear_buffer()
                self.conn.receive_data(reply)
                try:
                    return self.conn.next_event()
                except Exception as exc:
                    raise faults.map_codec_error(exc) from exc
            except DriverError as err:
                self.broken = err
                raise err.about(meter=self.meter_id, obis=obis) from err.__cause__

    def fail(self, err: DriverError) -> DriverError:
        """Break the session with `err` (the first failure is kept); `err` naming the meter."""
        self.broken = self.broken or err
        return err.about(meter=self.meter_id)

    async def blocks(self, reply: Any, service: str, obis: str | None) -> bytes:
        """The raw data of a GET reply sent in data blocks, asking for each next block."""
        data = bytearray()
        expected_block = 1
        while True:
            if isinstance(reply, xdlms.GetResponseNormalWithError):
                raise self._get_refused(int(reply.error), service, obis)
            if isinstance(reply, xdlms.GetResponseLastBlockWithError):
                raise faults.get_error(int(reply.error)).about(meter=self.meter_id, obis=obis)
            if isinstance(reply, xdlms.GetResponseWithBlock | xdlms.GetResponseLastBlock):
                if reply.block_number != expected_block:
                    raise self.fail(
                        ProtocolError(f"block {reply.block_number}, expected {expected_block}")
                    ).about(obis=obis)
                data += reply.data
                if len(data) > MAX_ATTRIBUTE_BYTES:
                    raise self.fail(
                        MalformedFrame(f"attribute exceeds {MAX_ATTRIBUTE_BYTES} bytes")
                    ).about(obis=obis)
                if isinstance(reply, xdlms.GetResponseLastBlock):
                    return bytes(data)
                next_request = xdlms.GetRequestNext(
                    block_number=reply.block_number,
                    invoke_id_and_priority=reply.invoke_id_and_priority,
                )
                expected_block += 1
                reply = await self.transact(next_request, obis)
                continue
            if _too_long(reply) and not self.grants("block_transfer_with_get_or_read"):
                # the association is still usable: the meter refused this one reply
                raise Unsupported(
                    f"{service}: the reply does not fit one APDU and the meter did not grant "
                    "block-transfer-with-get",
                    meter=self.meter_id,
                    obis=obis,
                )
            raise self.fail(unexpected_reply(reply, service)).about(obis=obis)

    def _get_refused(self, code: int, service: str, obis: str | None) -> DriverError:
        """A GET refused with a data-access-result. Without block transfer granted, meters
        that cannot fit a reply in one APDU answer a generic failure (Gurux: hardware-fault;
        others other-reason or temporary-failure): that is reported as `Unsupported`, naming
        the result and the missing conformance bit."""
        if code in BLOCKLESS_REFUSALS and not self.grants("block_transfer_with_get_or_read"):
            return Unsupported(
                f"{service}: meter answered {faults.access_result_name(code)}; a reply longer "
                "than one APDU needs block-transfer-with-get, which the meter did not grant",
                meter=self.meter_id,
                obis=obis,
            )
        return faults.get_error(code).about(meter=self.meter_id, obis=obis)

    async def close(self) -> None:
        """Refuse further requests, persist the invocation counters, take the link down."""
        self.closed = True
        try:
            if self._counters is not None:
                await self._counters.finish(
                    self.conn.client_invocation_counter, self.conn.meter_invocation_counter
                )
        finally:
            await self._link.close()

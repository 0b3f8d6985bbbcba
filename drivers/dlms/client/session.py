"""The async DLMS/COSEM client session: one association with one meter, on sans-IO dlms-cosem.

`open_dlms_session` opens the byte stream, the framing (wrapper or HDLC) and the association
(no security, LLS, or HLS-GMAC with security suite 0 global ciphering). `DlmsSession` implements
the driver contract (`read`, `read_profile`, `execute`) on `get`/`set`/`action`; each request
runs through an `ApduExchange` (drivers.dlms.client.exchange: deadlines, data blocks, breaking the
session on a link failure), several attributes at once through `get_many`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

from dlms_cosem import enumerations as dlms_enums
from dlms_cosem import state as dlms_state
from dlms_cosem.protocol import acse, xdlms

from drivers.contract import (
    Command,
    CommandResult,
    CounterStore,
    MeterEvent,
    Point,
    Reading,
)
from drivers.dlms.client import axdr, faults, objects
from drivers.dlms.client.connection import CipheringConnection, make_connection
from drivers.dlms.client.counters import NEVER_SEEN, PROCESS_COUNTERS, CounterReservation
from drivers.dlms.client.descriptors import cosem_attribute, cosem_method
from drivers.dlms.client.exchange import ApduExchange, unexpected_reply
from drivers.dlms.client.get_many import AttributeRef, ListGetter
from drivers.dlms.link import ApduLink
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.errors import (
    AuthenticationFailed,
    DriverError,
    MalformedFrame,
    ProtocolError,
    Unsupported,
)
from drivers.transport.settings import TcpLink
from drivers.transport.stream import open_stream

__all__ = ["AttributeRef", "DlmsSession", "cosem_attribute", "open_dlms_session"]

LOG = logging.getLogger(__name__)

# room for the general-glo-ciphering header and tag above the APDU size we negotiate
CIPHER_OVERHEAD = 64


class DlmsSession:
    """One open DLMS/COSEM association. Use as an async context manager, or call `close()`."""

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
        self._conn = connection
        self._exchange = ApduExchange(
            settings, link, connection, meter_id=meter_id, counters=counters
        )
        self._lists = ListGetter(self._exchange)
        self.associated = False

    @property
    def broken(self) -> DriverError | None:
        """The failure that made the session unusable, if any (it then refuses requests)."""
        return self._exchange.broken

    def grants(self, service: str) -> bool:
        """Whether the negotiated conformance block has `service` (a dlms-cosem Conformance
        field name such as "multiple_references" or "selective_access")."""
        return self._exchange.grants(service)

    # -- association ------------------------------------------------------------------------

    async def associate(self) -> None:
        aarq = self._conn.get_aarq()
        # the application context says "ciphered" only when APDUs are; HLS alone is not ciphering
        aarq.ciphered = self.settings.cipher
        # dlms-cosem checks what it sends against our *receive* size; the AARQ is exempt (after
        # the AARE the limit becomes the meter's receive size, the right one for requests)
        self._conn.max_pdu_size = 0xFFFF
        aare = await self._exchange.transact(aarq)
        if isinstance(aare, xdlms.ExceptionResponse):
            raise AuthenticationFailed(
                f"meter answered the association request with {aare.state_error.name}/"
                f"{aare.service_error.name}",
                meter=self.meter_id,
            )
        if not isinstance(aare, acse.ApplicationAssociationResponse):
            raise self._fail(ProtocolError(f"expected an AARE, got {type(aare).__name__}"))
        if aare.result is not dlms_enums.AssociationResult.ACCEPTED:
            detail = aare.result_source_diagnostics
            name = getattr(detail, "name", None) or repr(detail)
            raise AuthenticationFailed(
                f"association rejected ({aare.result.name.lower()}: {name})", meter=self.meter_id
            )
        if self._conn.state.current_state is dlms_state.SHOULD_SEND_HLS_SEVER_CHALLENGE_RESULT:
            await self._hls_reply()
        if self._conn.state.current_state is not dlms_state.READY:
            state = self._conn.state.current_state
            raise self._fail(ProtocolError(f"association ended in state {state}"))
        self.associated = True

    async def _hls_reply(self) -> None:
        """HLS pass 3/4: answer the meter's challenge, then check the meter's answer to ours."""
        try:
            proof = self._conn.authentication.hls_generate_reply_data(self._conn)
        except Exception as exc:
            raise self._fail(AuthenticationFailed(f"cannot compute HLS reply: {exc}")) from exc
        method = cosem_method(
            objects.ASSOCIATION_LN, objects.CURRENT_ASSOCIATION_OBIS, objects.REPLY_TO_HLS
        )
        try:
            await self._exchange.transact(
                xdlms.ActionRequestNormal(method, data=axdr.octet_string(proof))
            )
        except (ProtocolError, MalformedFrame) as err:
            # dlms-cosem reports a refused or wrong HLS answer as a state-machine error
            raise self._fail(AuthenticationFailed(f"HLS failed: {err.cause}")) from err
        if self._conn.state.current_state is not dlms_state.READY:
            raise self._fail(AuthenticationFailed("meter did not prove knowledge of the key (HLS)"))

    def _fail(self, err: DriverError) -> DriverError:
        return self._exchange.fail(err)

    # -- services ---------------------------------------------------------------------------

    async def get_raw(self, class_id: int, obis: str, attribute: int, access: Any = None) -> bytes:
        """GET one attribute, following data blocks; the attribute's A-XDR encoding."""
        obis = objects.canonical_obis(obis)
        target = cosem_attribute(class_id, obis, attribute)
        reply = await self._exchange.transact(
            xdlms.GetRequestNormal(cosem_attribute=target, access_selection=access), obis
        )
        if isinstance(reply, xdlms.GetResponseNormal):
            return bytes(reply.data)
        return await self._exchange.blocks(reply, "GET", obis)

    async def get(self, class_id: int, obis: str, attribute: int, access: Any = None) -> axdr.Value:
        """GET one attribute, decoded (see `drivers.dlms.client.axdr`)."""
        raw = await self.get_raw(class_id, obis, attribute, access)
        try:
            return axdr.decode(raw)
        except MalformedFrame as err:
            raise err.about(meter=self.meter_id, obis=objects.canonical_obis(obis)) from None

    @property
    def uses_get_list(self) -> bool:
        """GET-with-list is used when the meter granted multiple-references, `max_list` allows
        more than one attribute, and the meter has not refused a list in this session."""
        return self._lists.usable

    async def get_attributes(self, refs: Sequence[AttributeRef]) -> list[axdr.Value | DriverError]:
        """GET several attributes, one result per attribute: its value or a typed error.

        With GET-with-list (see `uses_get_list`) in requests of at most `max_list` attributes,
        otherwise one GET each. A meter that answers a list request with an error (an
        exception-response, a data-access-result for the whole request) has the rest read one
        by one, for the rest of the session. When the session breaks, every attribute not yet
        read gets an error of the same kind.
        """
        return await self._lists.get_attributes(refs, self.get)

    async def set(self, class_id: int, obis: str, attribute: int, data: bytes) -> None:
        """SET one attribute to an A-XDR encoded value; a refusal raises a typed error."""
        obis = objects.canonical_obis(obis)
        request = xdlms.SetRequestNormal(
            cosem_attribute=cosem_attribute(class_id, obis, attribute), data=data
        )
        reply = await self._exchange.transact(request, obis)
        if not isinstance(reply, xdlms.SetResponseNormal):
            raise self._fail(unexpected_reply(reply, "SET")).about(obis=obis)
        # dlms-cosem returns a refusal as a result instead of raising: check it
        if int(reply.result) != 0:
            error = faults.change_error(int(reply.result), f"SET attribute {attribute}")
            raise error.about(meter=self.meter_id, obis=obis)

    async def action(
        self, class_id: int, obis: str, method: int, data: bytes | None = None
    ) -> bytes | None:
        """Invoke a method; returns the A-XDR return data if the meter sent any."""
        obis = objects.canonical_obis(obis)
        target = cosem_method(class_id, obis, method)
        reply = await self._exchange.transact(xdlms.ActionRequestNormal(target, data=data), obis)
        if isinstance(reply, xdlms.ActionResponseNormalWithError):
            error = faults.change_error(int(reply.error), f"method {method}")
            raise error.about(meter=self.meter_id, obis=obis)
        if isinstance(reply, xdlms.ActionResponseNormal | xdlms.ActionResponseNormalWithData):
            if int(reply.status) != 0:
                error = faults.change_error(int(reply.status), f"method {method}")
                raise error.about(meter=self.meter_id, obis=obis)
            payload = getattr(reply, "data", None)
            return bytes(payload) if payload is not None else None
        raise self._fail(unexpected_reply(reply, "ACTION")).about(obis=obis)

    async def release(self) -> None:
        """Release the association (RLRQ/RLRE). The lower layer stays up until `close()`."""
        if not self.associated or self.broken is not None:
            return
        self.associated = False
        reply = await self._exchange.transact(self._conn.get_rlrq())
        if not isinstance(reply, acse.ReleaseResponse):
            raise self._fail(ProtocolError(f"expected an RLRE, got {type(reply).__name__}"))

    # -- the driver contract ----------------------------------------------------------------

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        from drivers.dlms.client.reading import read_points

        return await read_points(self, points)

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        from drivers.dlms.client.profile import read_profile

        return await read_profile(self, profile, start, end)

    async def read_events(self, log: Point, start: datetime, end: datetime) -> list[MeterEvent]:
        """The entries of an event log (e.g. 0.0.99.98.0.255) whose time is in [start, end]."""
        from drivers.dlms.client.events import read_events

        return await read_events(self, log, start, end)

    async def execute(self, command: Command) -> CommandResult:
        from drivers.dlms.client.commands import execute

        return await execute(self, command)

    async def close(self) -> None:
        """Release (best effort), persist the invocation counters, take the link down."""
        if self._exchange.closed:
            return
        try:
            if self.associated and self.broken is None:
                try:
                    await self.release()
                except DriverError as err:
                    LOG.debug("meter %s: release failed: %s", self.meter_id, err)
        finally:
            await self._exchange.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _open_link(settings: DlmsSettings) -> ApduLink:
    """Connect the byte stream and put the framing on it (the link layer is not up yet)."""
    client = settings.effective_client_address
    if settings.framing is DlmsFraming.WRAPPER:
        if not isinstance(settings.link, TcpLink):
            raise Unsupported("the wrapper framing runs over TCP only")
        from drivers.dlms.wrapper import WrapperTcpLink

        return await WrapperTcpLink.connect(
            settings.link,
            settings.connect_timeout_s,
            client,
            settings.server_logical,
            settings.max_pdu_size + CIPHER_OVERHEAD,
        )
    from drivers.dlms.hdlc.link import HdlcLink

    stream = await open_stream(settings.link, settings.connect_timeout_s)
    try:
        link: ApduLink = HdlcLink(
            stream,
            client_address=client,
            server_logical=settings.server_logical,
            server_physical=settings.server_physical,
            max_info=settings.hdlc_max_info,
            window=settings.hdlc_window,
        )
    except BaseException:
        await stream.close()
        raise
    return link


async def open_dlms_session(
    settings: DlmsSettings, *, meter_id: str, counters: CounterStore | None = None
) -> DlmsSession:
    """Connect, bring the link up and associate. Raises typed errors naming the meter.

    Without a `counters` store, invocation counters live in this process only (fine for tests
    and one-off reads; a service passes its persistent store).
    """
    reservation: CounterReservation | None = None
    if settings.cipher or settings.auth is DlmsAuth.HLS_GMAC:
        reservation = CounterReservation(
            counters or PROCESS_COUNTERS, settings.counter_key(meter_id)
        )
        await reservation.begin()
    try:
        link = await _open_link(settings)
    except DriverError as err:
        raise err.about(meter=meter_id) from err.__cause__
    session: DlmsSession | None = None
    try:
        deadline = asyncio.get_running_loop().time() + settings.connect_timeout_s
        await link.open(deadline)
        connection = make_connection(
            settings,
            client_counter=reservation.next_client if reservation else 0,
            meter_counter=reservation.meter_seen if reservation else NEVER_SEEN,
        )
        session = DlmsSession(settings, link, connection, meter_id=meter_id, counters=reservation)
        await session.associate()
        return session
    except BaseException as exc:
        if session is not None:
            await session.close()
        else:
            await link.close()
        if isinstance(exc, DriverError):
            raise exc.about(meter=meter_id) from exc.__cause__
        raise

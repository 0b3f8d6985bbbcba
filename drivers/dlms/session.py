"""The async DLMS/COSEM client session: one association with one meter, on sans-IO dlms-cosem.

`open_dlms_session` opens the byte stream, the framing (wrapper or HDLC) and the association
(no security, LLS, or HLS-GMAC with security suite 0 global ciphering). `DlmsSession` implements
the driver contract (`read`, `read_profile`, `execute`) on `get`/`set`/`action`, which run one
request each through `dlms_cosem.connection.DlmsConnection` and our own `ApduLink`.

Every request has its own whole-reply deadline (`settings.timeout_s`). A failure inside a request
(timeout, closed channel, garbage, replay) leaves the association in an unknown state, so the
session is then marked broken and refuses further requests; a refusal by the meter
(object-undefined...) leaves it usable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import structlog
from dlms_cosem import enumerations as dlms_enums
from dlms_cosem import state as dlms_state
from dlms_cosem.cosem import CosemAttribute, CosemAttributeWithSelection, CosemMethod, Obis
from dlms_cosem.protocol import acse, xdlms

from drivers.contract import Command, CommandResult, CounterStore, Point, Reading
from drivers.dlms import axdr, faults, get_list, objects
from drivers.dlms.association import CipheringConnection, as_general_glo, make_connection
from drivers.dlms.counters import NEVER_SEEN, PROCESS_COUNTERS, CounterReservation
from drivers.dlms.link import ApduLink
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.errors import (
    AuthenticationFailed,
    ChannelDown,
    DriverError,
    MalformedFrame,
    ProtocolError,
    Unsupported,
)
from drivers.obis import parse_obis
from drivers.transport.settings import TcpLink
from drivers.transport.stream import open_stream

LOG = logging.getLogger(__name__)

# a babbling meter must not make us assemble an endless GET: a whole attribute above this is refused
MAX_ATTRIBUTE_BYTES = 8 * 1024 * 1024
# room for the general-glo-ciphering header and tag above the APDU size we negotiate
CIPHER_OVERHEAD = 64
# a GET-with-list request: tag, type, invoke id and count around 10 bytes per attribute
# descriptor (class, logical name, attribute, no access selection); general-glo-ciphering adds
# its header (tag, system title, length, security control, invocation counter) and the GCM tag
LIST_REQUEST_OVERHEAD = 4
LIST_ITEM_BYTES = 10
GLO_OVERHEAD = 28
# data-access-results with which meters refuse a reply too long for one APDU when block
# transfer is not granted: hardware-fault, temporary-failure, other-reason
BLOCKLESS_REFUSALS = frozenset({1, 2, 250})


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


def _too_long(reply: Any) -> bool:
    return (
        isinstance(reply, xdlms.ExceptionResponse)
        and reply.service_error is dlms_enums.ServiceException.PDU_TOO_LONG
    )


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


@functools.lru_cache(maxsize=4096)
def _obis(obis: str) -> Obis:
    # parsed once per code: a session names the same few dozen objects over and over
    return Obis(*parse_obis(obis))


def cosem_attribute(class_id: int, obis: str, attribute: int) -> CosemAttribute:
    return CosemAttribute(_interface(class_id, obis), _obis(obis), attribute)


def _interface(class_id: int, obis: str) -> dlms_enums.CosemInterface:
    try:
        return dlms_enums.CosemInterface(class_id)
    except ValueError:
        raise Unsupported(f"interface class {class_id} unknown to the codec", obis=obis) from None


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
        self._link = link
        self._conn = connection
        self._counters = counters
        self._lock = asyncio.Lock()
        self.broken: DriverError | None = None
        self.associated = False
        self._closed = False
        self._list_refused = False

    # -- one request ------------------------------------------------------------------------

    async def _transact(self, request: Any, obis: str | None = None) -> Any:
        """Send one APDU, return the reply APDU (deciphered, parsed). Typed errors only."""
        async with self._lock:
            if self._closed:
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
                    await self._counters.ensure(self._conn.client_invocation_counter)
                try:
                    out = self._conn.send(request)
                except Exception as exc:
                    raise ProtocolError(f"cannot send {type(request).__name__}: {exc}") from exc
                reply = await self._link.exchange(out, deadline)
                reply = as_general_glo(reply, self._conn.meter_system_title)
                self._conn.clear_buffer()
                self._conn.receive_data(reply)
                try:
                    return self._conn.next_event()
                except Exception as exc:
                    raise faults.map_codec_error(exc) from exc
            except DriverError as err:
                self.broken = err
                raise err.about(meter=self.meter_id, obis=obis) from err.__cause__

    # -- association ------------------------------------------------------------------------

    async def associate(self) -> None:
        aarq = self._conn.get_aarq()
        # the application context says "ciphered" only when APDUs are; HLS alone is not ciphering
        aarq.ciphered = self.settings.cipher
        # dlms-cosem checks what it sends against our *receive* size; the AARQ is exempt (after
        # the AARE the limit becomes the meter's receive size, the right one for requests)
        self._conn.max_pdu_size = 0xFFFF
        aare = await self._transact(aarq)
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
        method = CosemMethod(
            dlms_enums.CosemInterface.ASSOCIATION_LN,
            _obis(objects.CURRENT_ASSOCIATION_OBIS),
            objects.REPLY_TO_HLS,
        )
        try:
            await self._transact(xdlms.ActionRequestNormal(method, data=axdr.octet_string(proof)))
        except (ProtocolError, MalformedFrame) as err:
            # dlms-cosem reports a refused or wrong HLS answer as a state-machine error
            raise self._fail(AuthenticationFailed(f"HLS failed: {err.cause}")) from err
        if self._conn.state.current_state is not dlms_state.READY:
            raise self._fail(AuthenticationFailed("meter did not prove knowledge of the key (HLS)"))

    def _fail(self, err: DriverError) -> DriverError:
        self.broken = self.broken or err
        return err.about(meter=self.meter_id)

    # -- services ---------------------------------------------------------------------------

    async def get_raw(self, class_id: int, obis: str, attribute: int, access: Any = None) -> bytes:
        """GET one attribute, following data blocks; the attribute's A-XDR encoding."""
        obis = objects.canonical_obis(obis)
        target = cosem_attribute(class_id, obis, attribute)
        reply = await self._transact(
            xdlms.GetRequestNormal(cosem_attribute=target, access_selection=access), obis
        )
        if isinstance(reply, xdlms.GetResponseNormal):
            return bytes(reply.data)
        return await self._blocks(reply, "GET", obis)

    async def _blocks(self, reply: Any, service: str, obis: str | None) -> bytes:
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
                    raise self._fail(
                        ProtocolError(f"block {reply.block_number}, expected {expected_block}")
                    ).about(obis=obis)
                data += reply.data
                if len(data) > MAX_ATTRIBUTE_BYTES:
                    raise self._fail(
                        MalformedFrame(f"attribute exceeds {MAX_ATTRIBUTE_BYTES} bytes")
                    ).about(obis=obis)
                if isinstance(reply, xdlms.GetResponseLastBlock):
                    return bytes(data)
                next_request = xdlms.GetRequestNext(
                    block_number=reply.block_number,
                    invoke_id_and_priority=reply.invoke_id_and_priority,
                )
                expected_block += 1
                reply = await self._transact(next_request, obis)
                continue
            if _too_long(reply) and not self.grants("block_transfer_with_get_or_read"):
                # the association is still usable: the meter refused this one reply
                raise Unsupported(
                    f"{service}: the reply does not fit one APDU and the meter did not grant "
                    "block-transfer-with-get",
                    meter=self.meter_id,
                    obis=obis,
                )
            raise self._fail(self._unexpected(reply, service)).about(obis=obis)

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

    # -- GET-with-list ----------------------------------------------------------------------

    def grants(self, service: str) -> bool:
        """Whether the negotiated conformance block has `service` (a dlms-cosem Conformance
        field name such as "multiple_references" or "selective_access")."""
        return bool(getattr(self._conn.granted, service, False))

    @property
    def uses_get_list(self) -> bool:
        """GET-with-list is used when the meter granted multiple-references, `max_list` allows
        more than one attribute, and the meter has not refused a list in this session."""
        return (
            self.settings.max_list > 1
            and not self._list_refused
            and self.grants("multiple_references")
        )

    def _list_size(self) -> int:
        # a request must fit the meter's receive size: 10 bytes per attribute descriptor
        meter_pdu: int = self._conn.max_pdu_size
        overhead = LIST_REQUEST_OVERHEAD + (GLO_OVERHEAD if self._conn.use_protection else 0)
        room = (meter_pdu - overhead) // LIST_ITEM_BYTES
        return max(1, min(self.settings.max_list, room))

    async def get_attributes(self, refs: Sequence[AttributeRef]) -> list[axdr.Value | DriverError]:
        """GET several attributes, one result per attribute: its value or a typed error.

        With GET-with-list (see `uses_get_list`) in requests of at most `max_list` attributes,
        otherwise one GET each. A meter that answers a list request with an error (an
        exception-response, a data-access-result for the whole request) has the rest read one
        by one, for the rest of the session. When the session breaks, every attribute not yet
        read gets an error of the same kind.
        """
        results: list[axdr.Value | DriverError] = []
        pos = 0
        while pos < len(refs):
            if self.broken is not None:
                err = self.broken
                results.extend(
                    type(err)(f"not read: {err.cause}", meter=self.meter_id, obis=ref.obis)
                    for ref in refs[pos:]
                )
                break
            size = self._list_size() if self.uses_get_list else 1
            if size > 1 and len(refs) - pos > 1:
                batch = refs[pos : pos + size]
                try:
                    results.extend(await self._get_with_list(batch))
                except _ListRefused as refused:
                    LOG.info("meter %s: GET-with-list refused (%s)", self.meter_id, refused)
                    self._list_refused = True
                    continue
                except DriverError as err:
                    results.append(err.about(meter=self.meter_id, obis=batch[0].obis))
                    results.extend(
                        type(err)(f"not read: {err.cause}", meter=self.meter_id, obis=ref.obis)
                        for ref in batch[1:]
                    )
                pos += len(batch)
                continue
            ref = refs[pos]
            try:
                results.append(await self.get(ref.class_id, ref.obis, ref.attribute))
            except DriverError as err:
                results.append(err.about(meter=self.meter_id, obis=ref.obis))
            pos += 1
        return results

    async def _get_with_list(self, batch: Sequence[AttributeRef]) -> list[axdr.Value | DriverError]:
        request = xdlms.GetRequestWithList(
            cosem_attributes_with_selection=[
                CosemAttributeWithSelection(
                    cosem_attribute(ref.class_id, ref.obis, ref.attribute), None
                )
                for ref in batch
            ]
        )
        reply = await self._transact(request)
        if isinstance(reply, xdlms.GetResponseWithList):
            items: list[get_list.ListResult] = list(reply.response_data)
        elif isinstance(reply, xdlms.GetResponseWithBlock | xdlms.GetResponseLastBlock):
            # a with-list reply in data blocks: the raw data is the encoded list of results
            try:
                raw = await self._blocks(reply, "GET-with-list", None)
            except DriverError as err:
                if self.broken is not None:
                    raise
                # the meter ended its blocks with a data-access-result for the whole list
                # (Gurux's Python server cannot continue a list in blocks): read one by one
                raise _ListRefused(f"blocks ended with {err.cause}") from None
            items = get_list.parse_results(raw)
        elif isinstance(
            reply,
            xdlms.ExceptionResponse
            | xdlms.GetResponseNormalWithError
            | xdlms.GetResponseLastBlockWithError,
        ):
            raise _ListRefused(_describe(reply))
        else:
            raise self._fail(self._unexpected(reply, "GET-with-list"))
        if len(items) != len(batch):
            raise self._fail(
                ProtocolError(f"GET-with-list: {len(items)} results for {len(batch)} attributes")
            )
        results: list[axdr.Value | DriverError] = []
        for ref, item in zip(batch, items, strict=True):
            if isinstance(item, get_list.AccessError):
                results.append(
                    faults.get_error(item.code).about(meter=self.meter_id, obis=ref.obis)
                )
            else:
                results.append(item)
        return results

    async def get(self, class_id: int, obis: str, attribute: int, access: Any = None) -> axdr.Value:
        """GET one attribute, decoded (see `drivers.dlms.axdr`)."""
        raw = await self.get_raw(class_id, obis, attribute, access)
        try:
            return axdr.decode(raw)
        except MalformedFrame as err:
            raise err.about(meter=self.meter_id, obis=objects.canonical_obis(obis)) from None

    async def set(self, class_id: int, obis: str, attribute: int, data: bytes) -> None:
        """SET one attribute to an A-XDR encoded value; a refusal raises a typed error."""
        obis = objects.canonical_obis(obis)
        request = xdlms.SetRequestNormal(
            cosem_attribute=cosem_attribute(class_id, obis, attribute), data=data
        )
        reply = await self._transact(request, obis)
        if not isinstance(reply, xdlms.SetResponseNormal):
            raise self._fail(self._unexpected(reply, "SET")).about(obis=obis)
        # dlms-cosem returns a refusal as a result instead of raising: check it
        if int(reply.result) != 0:
            error = faults.change_error(int(reply.result), f"SET attribute {attribute}")
            raise error.about(meter=self.meter_id, obis=obis)

    async def action(
        self, class_id: int, obis: str, method: int, data: bytes | None = None
    ) -> bytes | None:
        """Invoke a method; returns the A-XDR return data if the meter sent any."""
        obis = objects.canonical_obis(obis)
        target = CosemMethod(_interface(class_id, obis), _obis(obis), method)
        reply = await self._transact(xdlms.ActionRequestNormal(target, data=data), obis)
        if isinstance(reply, xdlms.ActionResponseNormalWithError):
            error = faults.change_error(int(reply.error), f"method {method}")
            raise error.about(meter=self.meter_id, obis=obis)
        if isinstance(reply, xdlms.ActionResponseNormal | xdlms.ActionResponseNormalWithData):
            if int(reply.status) != 0:
                error = faults.change_error(int(reply.status), f"method {method}")
                raise error.about(meter=self.meter_id, obis=obis)
            payload = getattr(reply, "data", None)
            return bytes(payload) if payload is not None else None
        raise self._fail(self._unexpected(reply, "ACTION")).about(obis=obis)

    def _unexpected(self, reply: Any, service: str) -> DriverError:
        if isinstance(reply, xdlms.ExceptionResponse):
            return ProtocolError(
                f"{service}: meter raised {reply.state_error.name}/{reply.service_error.name}"
            )
        if isinstance(reply, xdlms.ConfirmedServiceError):
            return ProtocolError(f"{service}: confirmed service error {reply.error!r}")
        return ProtocolError(f"{service}: unexpected reply {type(reply).__name__}")

    async def release(self) -> None:
        """Release the association (RLRQ/RLRE). The lower layer stays up until `close()`."""
        if not self.associated or self.broken is not None:
            return
        self.associated = False
        reply = await self._transact(self._conn.get_rlrq())
        if not isinstance(reply, acse.ReleaseResponse):
            raise self._fail(ProtocolError(f"expected an RLRE, got {type(reply).__name__}"))

    # -- the driver contract ----------------------------------------------------------------

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        from drivers.dlms.reading import read_points

        return await read_points(self, points)

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        from drivers.dlms.profile import read_profile

        return await read_profile(self, profile, start, end)

    async def execute(self, command: Command) -> CommandResult:
        from drivers.dlms.commands import execute

        return await execute(self, command)

    async def close(self) -> None:
        """Release (best effort), persist the invocation counters, take the link down."""
        if self._closed:
            return
        try:
            if self.associated and self.broken is None:
                try:
                    await self.release()
                except DriverError as err:
                    LOG.debug("meter %s: release failed: %s", self.meter_id, err)
        finally:
            self._closed = True
            try:
                if self._counters is not None:
                    await self._counters.finish(
                        self._conn.client_invocation_counter, self._conn.meter_invocation_counter
                    )
            finally:
                await self._link.close()

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

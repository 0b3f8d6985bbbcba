"""The sans-IO COSEM server: `handle(address, apdu) -> reply | None` for one connection.

A `CosemServer` holds the associations of one connection (keyed by the full server address, so
an HDLC line carrying many meters keeps them apart); the long-lived per-device state
(objects, secrets, invocation counters) is a `CosemDevice` found through a resolver; its objects
are a `CosemObjectModel` (drivers.dlms.server.model), so the server knows no meter. Every
failure becomes a DLMS reply (AARE rejection, Data-Access-Result, ExceptionResponse); the
handler never raises, because a bad request must not take the line down.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Collection

from dlms_cosem.enumerations import ReleaseResponseReason, ServiceException, StateException
from dlms_cosem.exceptions import DecryptionError
from dlms_cosem.protocol import acse
from dlms_cosem.security import SecurityControlField

from drivers.dlms.link import ServerAddress
from drivers.dlms.server import apdus, services
from drivers.dlms.server.association import (
    Association,
    Rejected,
    associate,
    offered_conformance,
)
from drivers.dlms.server.model import CosemObjectModel
from drivers.dlms.server.security import (
    ENCRYPTED_AND_AUTHENTICATED,
    DeviceSecurity,
    DlmsMeterSecrets,
    InvocationCounterError,
)

log = logging.getLogger(__name__)

SERVICES: dict[int, Callable[[services.Session, bytes], bytes]] = {
    apdus.GET_REQUEST: services.get,
    apdus.SET_REQUEST: services.set_,
    apdus.ACTION_REQUEST: services.action,
}


class CosemDevice:
    """One logical device: its COSEM objects, its secrets and security counters.

    It offers `SERVER_CONFORMANCE` less the `withheld` bits (the AARE grants the intersection
    with the client's proposal); `requests` counts the xDLMS requests it served, by kind ("get",
    "get-next", "get-list", "set", "action"), for tests and benchmarks.
    """

    __slots__ = ("conformance", "model", "refuse_lists", "requests", "security")

    def __init__(
        self,
        model: CosemObjectModel,
        secrets: DlmsMeterSecrets,
        withheld: Collection[str] = (),
    ) -> None:
        self.model = model
        self.security = DeviceSecurity(secrets)
        self.conformance = offered_conformance(withheld)
        self.requests: Counter[str] = Counter()
        # a fault for tests: multiple-references granted, every GET-with-list refused
        self.refuse_lists = False

    def __repr__(self) -> str:
        return f"CosemDevice({self.model.name!r})"


DeviceResolver = Callable[[ServerAddress], CosemDevice | None]


class CosemServer:
    """Associations of one connection; `handle` is an `ApduHandler`."""

    def __init__(self, resolve: DeviceResolver) -> None:
        self._resolve = resolve
        self._associations: dict[ServerAddress, Association] = {}

    def handle(self, address: ServerAddress, apdu: bytes) -> bytes | None:
        device = self._resolve(address)
        if device is None:
            return None  # nobody at that address: silence, as on a real line
        try:
            return self._handle(device, address, apdu)
        except Exception:  # the server boundary: answer, never crash the line
            log.exception("meter %s: request failed", device.model.name)
            return apdus.exception(
                StateException.SERVICE_NOT_ALLOWED, ServiceException.OTHER_REASON
            )

    def disconnect(self, address: ServerAddress) -> None:
        """The lower layer went away: the association ends (an `on_disconnect` handler)."""
        self._associations.pop(address, None)

    def _handle(self, device: CosemDevice, address: ServerAddress, apdu: bytes) -> bytes:
        if not apdu:
            return _exception(ServiceException.OTHER_REASON)
        tag = apdu[0]
        if tag == apdus.AARQ:
            self._associations.pop(address, None)
            try:
                association, aare = associate(
                    address.client, apdu, device.security, device.conformance
                )
            except Rejected as rejected:
                log.info("meter %s: association refused: %s", device.model.name, rejected)
                return rejected.aare
            self._associations[address] = association
            return aare
        current = self._associations.get(address)
        if tag == apdus.RLRQ:
            self._associations.pop(address, None)
            if current is not None and current.ciphered:
                _note_release_counter(device, current, apdu)
            release: bytes = acse.ReleaseResponse(reason=ReleaseResponseReason.NORMAL).to_bytes()
            return release
        if current is None:
            return _exception(ServiceException.OPERATION_NOT_POSSIBLE)
        if current.ciphered:
            return self._ciphered(device, current, apdu)
        return _serve(device, current, apdu)

    def _ciphered(self, device: CosemDevice, association: Association, apdu: bytes) -> bytes:
        # general-glo-ciphering (what dlms-cosem sends) or service-specific glo-get/set/action
        # requests (what Gurux and many head-ends send when general protection is not agreed);
        # a reply goes back in the form its request came in
        specific = apdu[0] in apdus.GLO_REQUESTS
        if apdu[0] != apdus.GENERAL_GLO_CIPHER and not specific:
            # The association's security policy requires every xDLMS APDU to be ciphered.
            return _exception(ServiceException.OTHER_REASON)
        security = device.security
        try:
            if specific:
                if association.client_title is None:
                    raise DecryptionError("no client system title in this association")
                title = association.client_title
                control, counter, ciphered = apdus.parse_glo_request(apdu)
            else:
                title, control, counter, ciphered = apdus.parse_general_glo_cipher(apdu)
            if title != association.client_title:
                raise DecryptionError("system title is not the associated client's")
            control_field = _control_field(control)
            plain = security.decipher(title, control_field, counter, ciphered)
        except InvocationCounterError as replay:
            log.info("meter %s: replayed invocation counter", device.model.name)
            return _exception(ServiceException.INVOCATION_COUNTER_ERROR, replay.expected)
        except (DecryptionError, apdus.BadRequest):
            return _exception(ServiceException.DECIPHERING_ERROR)
        reply = _serve(device, association, plain)
        counter, sealed = security.cipher(reply)
        control_byte = ENCRYPTED_AND_AUTHENTICATED.to_bytes()
        glo_reply = apdus.GLO_RESPONSES.get(reply[0]) if specific else None
        if glo_reply is not None:
            return apdus.glo_response(glo_reply, control_byte, counter, sealed)
        return apdus.general_glo_cipher(
            security.secrets.system_title, control_byte, counter, sealed
        )


_KINDS = {
    (apdus.GET_REQUEST, apdus.NORMAL): "get",
    (apdus.GET_REQUEST, apdus.NEXT): "get-next",
    (apdus.GET_REQUEST, apdus.WITH_LIST): "get-list",
}


def _serve(device: CosemDevice, association: Association, plain: bytes) -> bytes:
    """A plain xDLMS request of an association: counted by kind, then served."""
    tag = plain[0] if plain else 0
    if tag not in SERVICES:
        return _unknown(tag)
    kind = _KINDS.get((tag, plain[1] if len(plain) > 1 else 0))
    if kind is None:
        kind = {apdus.SET_REQUEST: "set", apdus.ACTION_REQUEST: "action"}.get(tag, "get")
    device.requests[kind] += 1
    if kind == "get-list" and device.refuse_lists:
        return services.not_supported()
    return SERVICES[tag](services.Session(device.model, device.security, association), plain)


@functools.lru_cache(maxsize=256)
def _control_field(control: int) -> SecurityControlField:
    # parsed once per value: every ciphered request carries the same security control byte
    return SecurityControlField.from_bytes(bytes([control]))


def _exception(service: ServiceException, counter: int | None = None) -> bytes:
    return apdus.exception(StateException.SERVICE_NOT_ALLOWED, service, counter)


def _unknown(tag: int) -> bytes:
    return apdus.exception(StateException.SERVICE_UNKNOWN, ServiceException.SERVICE_NOT_SUPPORTED)


def _note_release_counter(device: CosemDevice, association: Association, apdu: bytes) -> None:
    """A ciphered RLRQ still consumes the client's invocation counter."""
    try:
        rlrq = acse.ReleaseRequest.from_bytes(apdu)
    except (ValueError, KeyError, IndexError):
        return
    content = rlrq.user_information.content if rlrq.user_information else None
    counter = getattr(content, "invocation_counter", None)
    control = getattr(content, "security_control", None)
    ciphered = getattr(content, "ciphered_text", None)
    if association.client_title is None or counter is None or control is None or ciphered is None:
        return
    try:
        device.security.decipher(association.client_title, control, counter, ciphered)
    except (InvocationCounterError, DecryptionError):
        log.info("meter %s: release with a bad ciphered request", device.model.name)

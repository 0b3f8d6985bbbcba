"""GET, SET and ACTION inside an association, including GET block transfer and reply-to-HLS.

Each function takes a plain (deciphered) request APDU and returns the plain reply APDU.
"""

from __future__ import annotations

from typing import Any

from dlms_cosem.enumerations import (
    ActionResultStatus,
    DataAccessResult,
    ServiceException,
    StateException,
)
from dlms_cosem.protocol import xdlms

from drivers.dlms.server import apdus
from drivers.dlms.server import values as v
from drivers.dlms.server.association import Association, LongGet
from drivers.dlms.server.errors import AccessFailure
from drivers.dlms.server.model import CosemObjectModel, ObjectInfo, Selection
from drivers.dlms.server.security import DeviceSecurity

# Bytes a GetResponseWithBlock adds around its raw data, and a general-glo-cipher around an APDU.
BLOCK_OVERHEAD = 12
CIPHER_OVERHEAD = 30
MIN_BLOCK = 16
REPLY_TO_HLS = 1

ASSOCIATION = "0.0.40.0.0.255"  # the current association, answered here (it knows the session)
ASSOCIATION_LN = 15


class Session:
    """What a service needs: the device's objects, its security state, the association."""

    __slots__ = ("association", "model", "security")

    def __init__(
        self, model: CosemObjectModel, security: DeviceSecurity, association: Association
    ) -> None:
        self.model = model
        self.security = security
        self.association = association


def not_supported() -> bytes:
    return apdus.exception(
        StateException.SERVICE_NOT_ALLOWED, ServiceException.SERVICE_NOT_SUPPORTED
    )


def _room(session: Session) -> int:
    """Largest plain reply APDU the client can receive."""
    overhead = CIPHER_OVERHEAD if session.association.ciphered else 0
    return session.association.client_max_pdu - overhead


# -- GET -------------------------------------------------------------------------------------


def get(session: Session, apdu: bytes) -> bytes:
    try:
        request = apdus.parse_get(apdu)
    except apdus.BadRequest:
        return apdus.exception(StateException.SERVICE_NOT_ALLOWED, ServiceException.OTHER_REASON)
    assoc = session.association
    if isinstance(request, apdus.GetNext):
        return _next_block(session, request)
    assoc.long_get = None  # any new GET abandons a block transfer in progress
    if not assoc.conformance.get:
        return not_supported()
    if isinstance(request, apdus.GetNormal):
        try:
            data = _read(session, request.ref)
        except AccessFailure as failure:
            return apdus.get_error(request.invoke, failure.result)
        reply = apdus.get_normal(request.invoke, data)
        if len(reply) <= _room(session):
            return reply
        return _first_block(session, request.invoke, data)
    if not assoc.conformance.multiple_references:
        return not_supported()
    results: list[bytes | DataAccessResult] = []
    for ref in request.refs:
        try:
            results.append(_read(session, ref))
        except AccessFailure as failure:
            results.append(failure.result)
    encoded = apdus.list_results(results)
    reply = apdus.get_list(request.invoke, encoded)
    if len(reply) <= _room(session):
        return reply
    return _first_block(session, request.invoke, encoded)


def _read(session: Session, ref: apdus.AttributeRef) -> bytes:
    if not session.association.authenticated:
        raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "HLS not completed")
    selection = None
    if ref.selector is not None:
        if not session.association.conformance.selective_access:
            raise AccessFailure(DataAccessResult.OTHER_REASON, "selective access not negotiated")
        selection = Selection(ref.selector, ref.params)
    if ref.obis == ASSOCIATION:
        if ref.class_id != ASSOCIATION_LN:
            raise AccessFailure(DataAccessResult.OBJECT_CLASS_INCONSISTENT)
        return _association_attribute(session, ref.attribute).to_bytes()
    return session.model.get(ref.class_id, ref.obis, ref.attribute, selection)


def _first_block(session: Session, invoke: int, raw: bytes) -> bytes:
    if not session.association.conformance.block_transfer_with_get_or_read:
        return apdus.exception(StateException.SERVICE_NOT_ALLOWED, ServiceException.PDU_TOO_LONG)
    session.association.long_get = LongGet(invoke, raw, 0)
    return _send_block(session)


def _send_block(session: Session) -> bytes:
    long_get = session.association.long_get
    assert long_get is not None
    size = max(_room(session) - BLOCK_OVERHEAD, MIN_BLOCK)
    chunk, rest = long_get.remaining[:size], long_get.remaining[size:]
    long_get.block_number += 1
    long_get.remaining = rest
    if not rest:
        session.association.long_get = None
    return apdus.get_block(long_get.invoke, not rest, long_get.block_number, chunk)


def _next_block(session: Session, request: apdus.GetNext) -> bytes:
    long_get = session.association.long_get
    if long_get is None:
        return apdus.get_block_error(
            request.invoke, request.block_number, DataAccessResult.NO_LONG_GET_IN_PROGRESS
        )
    if request.block_number != long_get.block_number:
        session.association.long_get = None
        return apdus.get_block_error(
            request.invoke, request.block_number, DataAccessResult.DATA_BLOCK_NUMBER_INVALID
        )
    return _send_block(session)


# -- the current association object (class 15) -----------------------------------------------


def _association_attribute(session: Session, attribute: int) -> v.Data:
    assoc = session.association
    if attribute == 1:
        return v.octets(bytes([0, 0, 40, 0, 0, 255]))
    if attribute == 2:
        return _object_list(session.model, assoc)
    if attribute == 3:
        return v.structure(v.integer(assoc.client), v.long_unsigned(1))
    if attribute == 7:
        raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "a secret is never read")
    if attribute == 8:
        return v.enum(2 if assoc.authenticated else 1)  # associated / association-pending
    raise AccessFailure(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {attribute}")


def _object_list(model: CosemObjectModel, assoc: Association) -> v.Data:
    entries = [_object_entry(o, assoc) for o in model.object_list()]
    association_rights = v.structure(
        v.array([_attribute_right(a, 0 if a == 7 else 1, False) for a in (1, 2, 3, 7, 8)]),
        v.array([v.structure(v.integer(REPLY_TO_HLS), v.enum(1))]),
    )
    entries.append(
        v.structure(
            v.long_unsigned(ASSOCIATION_LN),
            v.unsigned(1),
            v.octets(bytes([0, 0, 40, 0, 0, 255])),
            association_rights,
        )
    )
    return v.array(entries)


def _attribute_right(attribute: int, mode: int, selective: bool) -> v.Data:
    selectors = v.array([v.integer(1), v.integer(2)]) if selective else v.null()
    return v.structure(v.integer(attribute), v.enum(mode), selectors)


def _object_entry(obj: ObjectInfo, assoc: Association) -> v.Data:
    rights = []
    for attribute in obj.attributes:
        readable = attribute not in obj.secret
        writable = assoc.policy.may_write and attribute in obj.writable
        mode = (1 if readable else 0) | (2 if writable else 0)
        rights.append(_attribute_right(attribute, mode, attribute in obj.selective))
    methods = [
        v.structure(v.integer(m), v.enum(1 if assoc.policy.may_write else 0)) for m in obj.methods
    ]
    return v.structure(
        v.long_unsigned(obj.class_id),
        v.unsigned(obj.version),
        v.octets(obj.logical_name),
        v.structure(v.array(rights), v.array(methods)),
    )


# -- SET -------------------------------------------------------------------------------------


def _change_request(
    session: Session, apdu: bytes, factory: Any, service: str
) -> tuple[Any, bytes | None]:
    """A SET or ACTION request decoded, or else the reply that refuses it (undecodable, or
    `service` not in the granted conformance). Either abandons a GET block transfer."""
    try:
        request = factory.from_bytes(apdu)
    except NotImplementedError:
        return None, not_supported()
    except (ValueError, KeyError, IndexError):
        refusal = apdus.exception(StateException.SERVICE_NOT_ALLOWED, ServiceException.OTHER_REASON)
        return None, refusal
    session.association.long_get = None
    if not getattr(session.association.conformance, service):
        return None, not_supported()
    return request, None


def set_(session: Session, apdu: bytes) -> bytes:
    request, refusal = _change_request(session, apdu, xdlms.SetRequestFactory, "set")
    if refusal is not None:
        return refusal
    return apdus.set_normal(apdu[2], _write(session, request))


def _write(session: Session, request: Any) -> DataAccessResult:
    attribute = request.cosem_attribute
    obis = ".".join(str(b) for b in attribute.instance.to_bytes())
    try:
        if not session.association.authenticated or not session.association.policy.may_write:
            raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "association is read-only")
        if obis == ASSOCIATION:
            raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "association is read-only")
        session.model.set(int(attribute.interface), obis, attribute.attribute, bytes(request.data))
    except AccessFailure as failure:
        return failure.result
    return DataAccessResult.SUCCESS


# -- ACTION ----------------------------------------------------------------------------------


def action(session: Session, apdu: bytes) -> bytes:
    request, refusal = _change_request(session, apdu, xdlms.ActionRequestFactory, "action")
    if refusal is not None:
        return refusal
    invoke = apdu[2]
    method = request.cosem_method
    obis = ".".join(str(b) for b in method.instance.to_bytes())
    params = bytes(request.data) if request.data is not None else None
    if obis == ASSOCIATION and int(method.interface) == ASSOCIATION_LN:
        return _reply_to_hls(session, invoke, method.method, params)
    try:
        if not session.association.authenticated or not session.association.policy.may_write:
            raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "association may not act")
        session.model.action(int(method.interface), obis, method.method, params)
    except AccessFailure as failure:
        return apdus.action_normal(invoke, ActionResultStatus(failure.result.value))
    return apdus.action_normal(invoke, ActionResultStatus.SUCCESS)


def _reply_to_hls(session: Session, invoke: int, method: int, params: bytes | None) -> bytes:
    assoc = session.association
    denied = apdus.action_normal(invoke, ActionResultStatus.READ_WRITE_DENIED)
    if method != REPLY_TO_HLS:
        return apdus.action_normal(invoke, ActionResultStatus.OBJECT_UNDEFINED)
    if assoc.authenticated or assoc.server_challenge is None or assoc.client_title is None:
        return denied
    try:
        reply = v.as_octets(v.parse_single(params or b""))
    except v.BadValue:
        return denied
    if not session.security.verify_client_hls(assoc.client_title, reply, assoc.server_challenge):
        assoc.server_challenge = None  # one attempt per association, as meters do
        return denied
    assoc.authenticated = True
    assert assoc.client_challenge is not None
    answer = session.security.server_hls_reply(assoc.client_challenge)
    return apdus.action_normal(invoke, ActionResultStatus.SUCCESS, v.octets(answer).to_bytes())

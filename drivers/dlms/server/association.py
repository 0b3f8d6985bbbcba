"""Application association (ACSE): AARQ in, AARE out, and what each client may do.

Client SAPs (IEC 62056-6-2 / IDIS convention):

| client | name       | authentication      | ciphering                | may                     |
|--------|------------|---------------------|--------------------------|-------------------------|
| 16     | public     | none                | no                       | GET (no secrets)        |
| 17     | reader     | LLS (password)      | no                       | GET, SET, ACTION        |
| 1      | management | HLS-GMAC (mech. 5)  | suite 0 global, required | GET, SET, ACTION        |

Refusals are what meters send: an AARE rejected-permanent with a diagnostic (mechanism or
context not accepted, authentication-failure), or, when the ciphered InitiateRequest does not
decipher or replays an old invocation counter, a rejection carrying a ConfirmedServiceError.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field

from dlms_cosem.enumerations import (
    AcseServiceUserDiagnostics,
    ApplicationReferenceError,
    AssociationResult,
    AuthenticationMechanism,
    InitiateError,
)
from dlms_cosem.exceptions import DecryptionError
from dlms_cosem.protocol import acse, xdlms

from drivers.dlms.server.security import (
    ENCRYPTED_AND_AUTHENTICATED,
    DeviceSecurity,
    InvocationCounterError,
)

SERVER_MAX_RECEIVE_PDU = 1024
MIN_CLIENT_PDU = 64
DLMS_VERSION = 6


@dataclass(frozen=True, slots=True)
class Policy:
    mechanism: AuthenticationMechanism
    ciphered: bool
    may_write: bool


POLICIES = {
    16: Policy(AuthenticationMechanism.NONE, ciphered=False, may_write=False),
    17: Policy(AuthenticationMechanism.LLS, ciphered=False, may_write=True),
    1: Policy(AuthenticationMechanism.HLS_GMAC, ciphered=True, may_write=True),
}

SERVER_CONFORMANCE = xdlms.Conformance(
    get=True,
    set=True,
    action=True,
    selective_access=True,
    block_transfer_with_get_or_read=True,
    multiple_references=True,
)


@dataclass(slots=True)
class LongGet:
    """A GET reply being sent in blocks: what is left and the last block number sent."""

    invoke: int
    remaining: bytes
    block_number: int


@dataclass(slots=True)
class Association:
    client: int
    policy: Policy
    conformance: xdlms.Conformance
    client_max_pdu: int
    client_title: bytes | None = None
    server_challenge: bytes | None = None
    client_challenge: bytes | None = None
    authenticated: bool = True
    long_get: LongGet | None = field(default=None)

    @property
    def ciphered(self) -> bool:
        return self.policy.ciphered


class Rejected(Exception):
    """The AARQ is refused; `aare` is the reply to send."""

    def __init__(self, aare: bytes, why: str) -> None:
        self.aare = aare
        super().__init__(why)


def _reject(
    diagnostic: AcseServiceUserDiagnostics,
    why: str,
    *,
    ciphered: bool = False,
    error: object | None = None,
) -> Rejected:
    user_information = (
        acse.UserInformation(content=xdlms.ConfirmedServiceError(error=error))
        if error is not None
        else None
    )
    aare = acse.ApplicationAssociationResponse(
        result=AssociationResult.REJECTED_PERMANENT,
        result_source_diagnostics=diagnostic,
        ciphered=ciphered,
        user_information=user_information,
    )
    return Rejected(aare.to_bytes(), why)


def offered_conformance(withheld: Collection[str] = ()) -> xdlms.Conformance:
    """`SERVER_CONFORMANCE` without the `withheld` bits (dlms-cosem Conformance field names)."""
    if not withheld:
        return SERVER_CONFORMANCE
    names = xdlms.Conformance.conformance_bit_position
    unknown = set(withheld) - set(names)
    if unknown:
        raise ValueError(f"unknown conformance bits: {', '.join(sorted(unknown))}")
    bits = {n: bool(getattr(SERVER_CONFORMANCE, n)) and n not in withheld for n in names}
    return xdlms.Conformance(**bits)


def _intersect(
    proposed: xdlms.Conformance, ciphered: bool, offered: xdlms.Conformance = SERVER_CONFORMANCE
) -> xdlms.Conformance:
    names = xdlms.Conformance.conformance_bit_position
    granted = {n: bool(getattr(proposed, n) and getattr(offered, n)) for n in names}
    # general-glo-cipher APDUs sit under the general-protection bit.
    granted["general_protection"] = bool(ciphered and proposed.general_protection)
    return xdlms.Conformance(**granted)


def associate(
    client: int,
    aarq_bytes: bytes,
    device: DeviceSecurity,
    offered: xdlms.Conformance = SERVER_CONFORMANCE,
) -> tuple[Association, bytes]:
    """Accept the AARQ (returning the association and the AARE) or raise Rejected. The
    conformance granted is the client's proposal within what the device `offered`."""
    try:
        aarq = acse.ApplicationAssociationRequest.from_bytes(aarq_bytes)
    except (ValueError, KeyError, IndexError, TypeError, NotImplementedError) as exc:
        raise _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN, f"unreadable AARQ: {exc}"
        ) from None
    policy = POLICIES.get(client)
    if policy is None:
        raise _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN, f"no association for client {client}"
        )
    mechanism = aarq.authentication or AuthenticationMechanism.NONE
    if aarq.ciphered != policy.ciphered:
        raise _reject(
            AcseServiceUserDiagnostics.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
            "ciphered context" if policy.ciphered else "unciphered context",
            ciphered=aarq.ciphered,
        )
    if mechanism != policy.mechanism:
        diagnostic = (
            AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_REQUIRED
            if mechanism == AuthenticationMechanism.NONE
            else AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED
        )
        raise _reject(diagnostic, f"client {client} needs mechanism {policy.mechanism.name}")
    if mechanism == AuthenticationMechanism.LLS and not device.password_matches(
        aarq.authentication_value
    ):
        raise _reject(AcseServiceUserDiagnostics.AUTHENTICATION_FAILED, "wrong password")

    content = aarq.user_information.content if aarq.user_information else None
    client_title = aarq.system_title
    if policy.ciphered:
        initiate = _decipher_initiate(content, client_title, device)
    elif isinstance(content, xdlms.InitiateRequest):
        initiate = content
    else:
        raise _reject(AcseServiceUserDiagnostics.NO_REASON_GIVEN, "no InitiateRequest")

    if initiate.proposed_dlms_version_number < DLMS_VERSION:
        raise _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN,
            "DLMS version too low",
            ciphered=policy.ciphered,
            error=InitiateError.DLMS_VERSION_TOO_LOW,
        )
    client_pdu = initiate.client_max_receive_pdu_size or 0xFFFF
    if client_pdu < MIN_CLIENT_PDU:
        raise _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN,
            "client PDU too short",
            ciphered=policy.ciphered,
            error=InitiateError.PDU_SIZE_TOO_SHORT,
        )
    conformance = _intersect(initiate.proposed_conformance, policy.ciphered, offered)
    if not (conformance.get or conformance.set or conformance.action):
        raise _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN,
            "no common services",
            ciphered=policy.ciphered,
            error=InitiateError.INCOMPATIBLE_CONFORMANCE,
        )

    association = Association(
        client=client, policy=policy, conformance=conformance, client_max_pdu=client_pdu
    )
    response = xdlms.InitiateResponse(
        negotiated_conformance=conformance, server_max_receive_pdu_size=SERVER_MAX_RECEIVE_PDU
    )
    user_information: object = response
    authentication_value = None
    if policy.ciphered:
        challenge = aarq.authentication_value or b""
        if not 8 <= len(challenge) <= 64:
            raise _reject(AcseServiceUserDiagnostics.AUTHENTICATION_FAILED, "bad HLS challenge")
        association.client_title = client_title
        association.client_challenge = challenge
        association.server_challenge = os.urandom(16)
        association.authenticated = False
        authentication_value = association.server_challenge
        counter, ciphered = device.cipher(response.to_bytes())
        user_information = xdlms.GlobalCipherInitiateResponse(
            security_control=ENCRYPTED_AND_AUTHENTICATED,
            invocation_counter=counter,
            ciphered_text=ciphered,
        )
    aare = acse.ApplicationAssociationResponse(
        result=AssociationResult.ACCEPTED,
        result_source_diagnostics=AcseServiceUserDiagnostics.NULL,
        ciphered=policy.ciphered,
        authentication=mechanism if mechanism != AuthenticationMechanism.NONE else None,
        system_title=device.secrets.system_title if policy.ciphered else None,
        authentication_value=authentication_value,
        user_information=acse.UserInformation(content=user_information),
    )
    return association, aare.to_bytes()


def _decipher_initiate(
    content: object, client_title: bytes | None, device: DeviceSecurity
) -> xdlms.InitiateRequest:
    def refuse(why: str) -> Rejected:
        return _reject(
            AcseServiceUserDiagnostics.NO_REASON_GIVEN,
            why,
            ciphered=True,
            error=ApplicationReferenceError.DECIPHERING_ERROR,
        )

    if not isinstance(content, xdlms.GlobalCipherInitiateRequest):
        raise refuse("the InitiateRequest is not ciphered")
    if client_title is None or len(client_title) != 8:
        raise _reject(
            AcseServiceUserDiagnostics.CALLING_AP_TITLE_NOT_RECOGNIZED,
            "no client system title",
            ciphered=True,
        )
    try:
        plain = device.decipher(
            client_title,
            content.security_control,
            content.invocation_counter,
            content.ciphered_text,
        )
        return xdlms.InitiateRequest.from_bytes(plain)
    except InvocationCounterError:
        raise refuse("replayed invocation counter") from None
    except DecryptionError:
        raise refuse("the InitiateRequest does not decipher (wrong key)") from None
    except (ValueError, KeyError, IndexError) as exc:
        raise refuse(f"unreadable InitiateRequest: {exc}") from None

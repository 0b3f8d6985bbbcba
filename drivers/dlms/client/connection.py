"""Building the sans-IO dlms-cosem connection for one association: security and conformance.

Keys are taken out of their SecretBytes only here, to hand them to the cipher; they are never
logged, formatted or kept on our own objects.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dlms_cosem.connection import DlmsConnection, XDlmsApduFactory
from dlms_cosem.protocol import xdlms
from dlms_cosem.protocol.xdlms.conformance import Conformance
from dlms_cosem.security import (
    HighLevelSecurityGmacAuthentication,
    LowLevelSecurityAuthentication,
    NoSecurityAuthentication,
)

from drivers.dlms.client import list_replies
from drivers.dlms.settings import DlmsAuth, DlmsSettings
from drivers.errors import ProtocolError


class CipheringConnection(DlmsConnection):  # type: ignore[misc]
    """A DlmsConnection whose APDU ciphering is a setting of its own.

    dlms-cosem ciphers every APDU as soon as keys are present, but HLS-GMAC needs the keys for
    its challenge even when the APDUs go in clear. The repr is plain so keys never show up.
    """

    cipher_apdus: bool = True
    client_invocation_counter: int  # dlms-cosem's attribute, typed for our override
    _control: tuple[tuple[int, bool, bool], Any] | None = None

    @property
    def security_control(self) -> Any:
        """The security control byte, built once per security context instead of on every
        use (dlms-cosem rebuilds it three times per ciphered request)."""
        key = (
            self.security_suite,
            bool(self.global_encryption_key),
            bool(self.global_authentication_key),
        )
        if self._control is None or self._control[0] != key:
            self._control = (key, super().security_control)
        return self._control[1]

    @property
    def use_protection(self) -> bool:
        return self.cipher_apdus and self.global_encryption_key is not None

    # -- ciphering ----------------------------------------------------------------------------

    def encrypt(self, plain_text: bytes) -> tuple[bytes, int]:
        """As dlms-cosem's (suite 0: AES-GCM-128, authenticated encryption, the same nonce,
        additional data and counter step), with one `AESGCM` per key instead of a new
        `Cipher` object per APDU. AESGCM gives the full 16-byte tag; DLMS sends 12, and a GCM
        tag truncated is the same as one computed to 12 bytes. Deciphering stays with
        dlms-cosem (AESGCM cannot verify a truncated tag)."""
        key = self.global_encryption_key
        auth_key = self.global_authentication_key
        control = self.security_control
        if not key or not auth_key or not (control.encrypted and control.authenticated):
            result: tuple[bytes, int] = super().encrypt(plain_text)
            return result
        title = self.client_system_title
        if title is None or len(title) != 8:
            raise ProtocolError("client system title must be 8 bytes to cipher")
        counter: int = self.client_invocation_counter
        nonce = bytes(title) + counter.to_bytes(4, "big")
        sealed = _aesgcm(bytes(key)).encrypt(nonce, plain_text, control.to_bytes() + auth_key)
        self.client_invocation_counter = counter + 1
        return sealed[:-16] + sealed[-16:-4], counter

    # -- replies dlms-cosem cannot parse --------------------------------------------------------

    def next_event(self) -> Any:
        """As dlms-cosem's, except that a get-response-with-list is parsed by our A-XDR code
        (`drivers.dlms.client.list_replies`; dlms-cosem's parser fails on float32 and compact
        arrays)."""
        if not self.use_protection and list_replies.is_list_response(self.buffer):
            apdu = list_replies.parse_response(bytes(self.buffer))
            self.state.process_event(apdu)
            self.clear_buffer()
            return apdu
        return super().next_event()

    def unprotect(self, event: Any) -> Any:
        if isinstance(event, xdlms.GeneralGlobalCipher):
            # dlms-cosem's own steps (counter check before deciphering), then our list parser
            self.update_meter_invocation_counter(event.invocation_counter)
            plain = self.decrypt(event.ciphered_text)
            if list_replies.is_list_response(plain):
                return list_replies.parse_response(bytes(plain))
            return XDlmsApduFactory.apdu_from_bytes(plain)
        return super().unprotect(event)

    @property
    def granted(self) -> Conformance:
        """The conformance block: what we proposed until the AARE, then what the meter granted
        (dlms-cosem replaces it with the negotiated one when it reads the AARE)."""
        return self.conformance

    def __repr__(self) -> str:
        return f"CipheringConnection(cipher_apdus={self.cipher_apdus})"


@functools.lru_cache(maxsize=64)
def _aesgcm(key: bytes) -> AESGCM:
    # one per key (the key schedule is computed once); the object holds the key, never logged
    return AESGCM(key)


# Service-specific global ciphering of the replies a client gets (Green Book: glo-get-response,
# glo-set-response, glo-action-response), as Gurux's and many meters' servers answer ciphered
# requests; dlms-cosem 25.1 parses only general-glo-ciphering (0xDB).
GLO_GET_RESPONSE = 0xCC
GLO_SET_RESPONSE = 0xCD
GLO_ACTION_RESPONSE = 0xCF
SERVICE_SPECIFIC_GLO_REPLIES = frozenset({GLO_GET_RESPONSE, GLO_SET_RESPONSE, GLO_ACTION_RESPONSE})
GENERAL_GLO_CIPHERING = 0xDB


def as_general_glo(apdu: bytes, meter_system_title: bytes | None) -> bytes:
    """A service-specific glo-xxx-response as the general-glo-ciphering APDU it is equivalent to.

    Both carry `length, security control, invocation counter, ciphertext and tag`; the general
    form adds the sender's system title in front, which for a reply is the meter's (from the
    AARE). The GCM nonce (system title + counter) and the authenticated data (security control
    + authentication key) are the same in both, so the meter's tag still verifies. Other APDUs
    pass through unchanged.
    """
    if not apdu or apdu[0] not in SERVICE_SPECIFIC_GLO_REPLIES:
        return apdu
    if not meter_system_title:
        raise ProtocolError(
            f"ciphered reply (tag {apdu[0]:#04x}) before the meter's system title is known"
        )
    title = bytes(meter_system_title)
    return bytes([GENERAL_GLO_CIPHERING, len(title)]) + title + apdu[1:]


def make_conformance(*, ciphered: bool) -> Conformance:
    """What we propose in the AARQ. General block transfer is deliberately absent: dlms-cosem
    cannot do it, and a meter that chose it would send blocks we cannot reassemble. Multiple
    references (GET-with-list) is proposed; whether the session uses it depends on the grant."""
    conformance: Conformance = Conformance(
        general_protection=ciphered,
        general_block_transfer=False,
        priority_management_supported=True,
        block_transfer_with_get_or_read=True,
        block_transfer_with_set_or_write=False,
        block_transfer_with_action=False,
        multiple_references=True,
        access=False,
        get=True,
        set=True,
        selective_access=True,
        event_notification=False,
        action=True,
    )
    return conformance


def make_connection(
    settings: DlmsSettings, *, client_counter: int, meter_counter: int
) -> CipheringConnection:
    authentication: Any
    if settings.auth is DlmsAuth.LOW:
        assert settings.password is not None  # checked by DlmsSettings
        authentication = LowLevelSecurityAuthentication(settings.password.get_secret_value())
    elif settings.auth is DlmsAuth.HLS_GMAC:
        authentication = HighLevelSecurityGmacAuthentication()
    else:
        authentication = NoSecurityAuthentication()
    needs_keys = settings.cipher or settings.auth is DlmsAuth.HLS_GMAC
    block_key = settings.block_key.get_secret_value() if needs_keys and settings.block_key else None
    auth_key = settings.auth_key.get_secret_value() if needs_keys and settings.auth_key else None
    connection: CipheringConnection = CipheringConnection(
        authentication=authentication,
        client_system_title=settings.system_title,
        global_encryption_key=block_key,
        global_authentication_key=auth_key,
        security_suite=0,
        client_invocation_counter=client_counter,
        meter_invocation_counter=meter_counter,
        max_pdu_size=settings.max_pdu_size,
        conformance=make_conformance(ciphered=settings.cipher),
    )
    connection.cipher_apdus = settings.cipher
    return connection

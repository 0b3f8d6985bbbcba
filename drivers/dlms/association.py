"""Building the sans-IO dlms-cosem connection for one association: security and conformance.

Keys are taken out of their SecretBytes only here, to hand them to the cipher; they are never
logged, formatted or kept on our own objects.
"""

from __future__ import annotations

from typing import Any

from dlms_cosem.connection import DlmsConnection
from dlms_cosem.protocol.xdlms.conformance import Conformance
from dlms_cosem.security import (
    HighLevelSecurityGmacAuthentication,
    LowLevelSecurityAuthentication,
    NoSecurityAuthentication,
)

from drivers.dlms.settings import DlmsAuth, DlmsSettings


class CipheringConnection(DlmsConnection):  # type: ignore[misc]
    """A DlmsConnection whose APDU ciphering is a setting of its own.

    dlms-cosem ciphers every APDU as soon as keys are present, but HLS-GMAC needs the keys for
    its challenge even when the APDUs go in clear. The repr is plain so keys never show up.
    """

    cipher_apdus: bool = True
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

    def __repr__(self) -> str:
        return f"CipheringConnection(cipher_apdus={self.cipher_apdus})"


def make_conformance(*, ciphered: bool) -> Conformance:
    """What we propose in the AARQ. General block transfer is deliberately absent: dlms-cosem
    cannot do it, and a meter that chose it would send blocks we cannot reassemble."""
    conformance: Conformance = Conformance(
        general_protection=ciphered,
        general_block_transfer=False,
        priority_management_supported=True,
        block_transfer_with_get_or_read=True,
        block_transfer_with_set_or_write=False,
        block_transfer_with_action=False,
        multiple_references=False,
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

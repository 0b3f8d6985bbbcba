"""Our AES-GCM encryption (one cached AESGCM per key, tag cut to 12 bytes) gives the same bytes
as dlms-cosem's own, and the simulator and Gurux accept it (the session tests cover that)."""

from __future__ import annotations

import pytest
from dlms_cosem import security
from dlms_cosem.connection import DlmsConnection
from pydantic import SecretBytes

from drivers.dlms.client.connection import make_connection
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.transport.settings import TcpLink

from .conftest import AUTH_KEY, BLOCK_KEY, CLIENT_TITLE


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 200, 1024])
def test_encrypt_matches_dlms_cosem(size: int) -> None:
    settings = DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=TcpLink(host="127.0.0.1", port=1),
        auth=DlmsAuth.HLS_GMAC,
        cipher=True,
        system_title=CLIENT_TITLE,
        auth_key=SecretBytes(AUTH_KEY),
        block_key=SecretBytes(BLOCK_KEY),
    )
    ours = make_connection(settings, client_counter=41, meter_counter=-1)
    plain = bytes(range(256)) * 4
    plain = plain[:size]
    sealed, counter = ours.encrypt(plain)
    assert counter == 41 and ours.client_invocation_counter == 42
    expected = security.encrypt(
        DlmsConnection.security_control.fget(ours),  # dlms-cosem's own control field
        system_title=CLIENT_TITLE,
        invocation_counter=41,
        key=BLOCK_KEY,
        auth_key=AUTH_KEY,
        plain_text=plain,
    )
    assert sealed == expected and len(sealed) == size + 12
    # and dlms-cosem deciphers it
    control = DlmsConnection.security_control.fget(ours)
    assert (
        security.decrypt(
            control,
            system_title=CLIENT_TITLE,
            invocation_counter=41,
            key=BLOCK_KEY,
            auth_key=AUTH_KEY,
            cipher_text=sealed,
        )
        == plain
    )

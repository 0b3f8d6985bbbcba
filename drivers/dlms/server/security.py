"""Meter secrets and the security context of one logical device (suite 0: AES-GCM-128).

`DlmsMeterSecrets` holds the LLS password, the meter's system title and the global keys; its repr
shows the system title only. `DeviceSecurity` keeps, for the simulator's lifetime, the meter's own
invocation counter (strictly increasing over every ciphered APDU it sends) and the last invocation
counter seen from each client system title (a request must carry a larger one).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from dlms_cosem import security
from dlms_cosem.exceptions import DecryptionError

SUITE = 0
ENCRYPTED_AND_AUTHENTICATED = security.SecurityControlField(
    SUITE, authenticated=True, encrypted=True
)
AUTHENTICATED_ONLY = security.SecurityControlField(SUITE, authenticated=True, encrypted=False)
MAX_INVOCATION_COUNTER = 0xFFFFFFFF

# Well-known demonstration values (the IDIS/Gurux examples); real deployments use a key store.
DEMO_PASSWORD = b"12345678"
DEMO_AUTH_KEY = bytes(range(0xD0, 0xE0))
DEMO_BLOCK_KEY = bytes(range(0x00, 0x10))
DEMO_SYSTEM_TITLE = b"SIM\x00\x00\x00\x00\x01"


@dataclass(frozen=True)
class DlmsMeterSecrets:
    """What a meter knows to authenticate clients and cipher its replies."""

    password: bytes = field(default=DEMO_PASSWORD, repr=False)
    system_title: bytes = DEMO_SYSTEM_TITLE
    auth_key: bytes = field(default=DEMO_AUTH_KEY, repr=False)
    block_key: bytes = field(default=DEMO_BLOCK_KEY, repr=False)

    def __post_init__(self) -> None:
        if len(self.system_title) != 8:
            raise ValueError(f"system_title must be 8 bytes, got {len(self.system_title)}")
        for name in ("auth_key", "block_key"):
            if len(getattr(self, name)) != 16:
                raise ValueError(f"{name} must be 16 bytes (AES-128, security suite 0)")

    @classmethod
    def for_meter(cls, meter_id: str) -> DlmsMeterSecrets:
        """Demo secrets with a system title unique to the meter ("SIM" + 5 bytes of its id)."""
        digest = hashlib.sha256(meter_id.encode()).digest()
        return cls(system_title=b"SIM" + digest[:5])


class InvocationCounterError(Exception):
    """A client invocation counter that is not larger than the last one seen."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        super().__init__(f"invocation counter must be at least {expected}")


class DeviceSecurity:
    """Per-meter security state; small (two ints per client system title seen)."""

    __slots__ = ("_client_counters", "_next_counter", "secrets")

    def __init__(self, secrets: DlmsMeterSecrets) -> None:
        self.secrets = secrets
        self._next_counter = 1
        self._client_counters: dict[bytes, int] = {}

    def __repr__(self) -> str:
        return f"DeviceSecurity(system_title={self.secrets.system_title.hex()})"

    def password_matches(self, given: bytes | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.secrets.password)

    def next_counter(self) -> int:
        counter = self._next_counter
        if counter > MAX_INVOCATION_COUNTER:
            # Suite 0 forbids reusing an IV; a meter at the end of its counter stops ciphering.
            raise InvocationCounterError(counter)
        self._next_counter += 1
        return counter

    def accept_client_counter(self, client_title: bytes, counter: int) -> None:
        """Record `counter` for the client, or raise InvocationCounterError on a replay."""
        last = self._client_counters.get(client_title)
        if last is not None and counter <= last:
            raise InvocationCounterError(last + 1)
        self._client_counters[client_title] = counter

    def decipher(
        self,
        client_title: bytes,
        control: security.SecurityControlField,
        counter: int,
        ciphered: bytes,
    ) -> bytes:
        """Plain text of a client's ciphered APDU; DecryptionError when the tag does not verify.

        The counter is recorded only after the tag verifies, so forged traffic cannot burn it.
        """
        if control.to_bytes() != ENCRYPTED_AND_AUTHENTICATED.to_bytes():
            raise DecryptionError("only suite 0 authenticated encryption is accepted")
        if len(client_title) != 8:
            raise DecryptionError("a client system title is 8 bytes")
        last = self._client_counters.get(client_title)
        if last is not None and counter <= last:
            raise InvocationCounterError(last + 1)
        plain = bytes(
            security.decrypt(
                control,
                system_title=client_title,
                invocation_counter=counter,
                key=self.secrets.block_key,
                auth_key=self.secrets.auth_key,
                cipher_text=ciphered,
            )
        )
        self.accept_client_counter(client_title, counter)
        return plain

    def cipher(self, plain: bytes) -> tuple[int, bytes]:
        """(invocation counter, ciphered text with tag) of a reply under the meter's title."""
        counter = self.next_counter()
        ciphered = security.encrypt(
            ENCRYPTED_AND_AUTHENTICATED,
            system_title=self.secrets.system_title,
            invocation_counter=counter,
            key=self.secrets.block_key,
            auth_key=self.secrets.auth_key,
            plain_text=plain,
        )
        return counter, bytes(ciphered)

    def gmac(self, system_title: bytes, counter: int, challenge: bytes) -> bytes:
        """The 12-byte GMAC tag of HLS mechanism 5 over SC || AK || challenge."""
        return bytes(
            security.gmac(
                AUTHENTICATED_ONLY,
                system_title=system_title,
                invocation_counter=counter,
                key=self.secrets.block_key,
                auth_key=self.secrets.auth_key,
                challenge=challenge,
            )
        )

    def verify_client_hls(self, client_title: bytes, reply: bytes, challenge: bytes) -> bool:
        """Check f(StoC) = SC || IC || GMAC(SC || AK || StoC) from the client."""
        if len(reply) != 1 + 4 + security.TAG_LENGTH or reply[0:1] != AUTHENTICATED_ONLY.to_bytes():
            return False
        counter = int.from_bytes(reply[1:5], "big")
        expected = self.gmac(client_title, counter, challenge)
        return hmac.compare_digest(expected, reply[5:])

    def server_hls_reply(self, client_challenge: bytes) -> bytes:
        """f(CtoS) = SC || IC || GMAC(SC || AK || CtoS) under the meter's system title."""
        counter = self.next_counter()
        tag = self.gmac(self.secrets.system_title, counter, client_challenge)
        control: bytes = AUTHENTICATED_ONLY.to_bytes()
        return control + counter.to_bytes(4, "big") + tag

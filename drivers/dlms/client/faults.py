"""Mapping what dlms-cosem raises or a meter answers to our typed driver errors.

dlms-cosem signals a malformed APDU with whatever the parser tripped on (ValueError, KeyError,
IndexError, AssertionError, attrs validation errors...). None of those may leave the driver.
"""

from __future__ import annotations

from dlms_cosem import exceptions as dlms_exceptions
from dlms_cosem.enumerations import ActionResultStatus, DataAccessResult

from drivers.errors import (
    AuthenticationFailed,
    CommandRejected,
    DriverError,
    MalformedFrame,
    ObjectUnavailable,
    ProtocolError,
    ReplayDetected,
)

# results that say "there is no such object for you", as opposed to "not now" or "not that value"
_MISSING = frozenset({3, 4, 9, 11, 13})


def map_codec_error(exc: Exception) -> DriverError:
    """An exception from dlms-cosem's send/next_event as a typed error (without context)."""
    if isinstance(exc, DriverError):
        return exc
    if isinstance(exc, dlms_exceptions.DecryptionError):
        # GCM tag mismatch: wrong key, or a reply not meant for this association
        return AuthenticationFailed("reply does not decrypt with our keys (wrong key?)")
    if isinstance(exc, dlms_exceptions.LocalDlmsProtocolError):
        text = str(exc)
        if "invocation counter" in text:
            return ReplayDetected("reply invocation counter is not above the last one seen")
        return ProtocolError(f"unexpected reply: {_short(text)}")
    if isinstance(exc, dlms_exceptions.CipheringError | dlms_exceptions.CryptographyError):
        return MalformedFrame(f"ciphered reply cannot be processed: {type(exc).__name__}")
    return MalformedFrame(f"reply APDU does not parse: {type(exc).__name__}: {_short(str(exc))}")


def access_result_name(code: int) -> str:
    try:
        name: str = DataAccessResult(code).name
        return name.lower().replace("_", "-")
    except ValueError:
        return f"result {code}"


def get_error(code: int) -> DriverError:
    """A data-access-result refusing a GET."""
    return ObjectUnavailable(f"meter answered {access_result_name(code)}")


def change_error(code: int, operation: str) -> DriverError:
    """A refusal of a SET or ACTION: a missing object, or a command the meter will not do."""
    try:
        name: str = ActionResultStatus(code).name.lower().replace("_", "-")
    except ValueError:
        name = f"result {code}"
    if code in _MISSING:
        return ObjectUnavailable(f"{operation} refused: {name}")
    return CommandRejected(f"{operation} refused: {name}")


def _short(text: str, limit: int = 160) -> str:
    # parser messages may quote whole buffers; keep errors readable (and short of any payload)
    return text if len(text) <= limit else text[:limit] + "..."

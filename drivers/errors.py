"""Typed driver errors. Each carries the meter, what was asked (OBIS or operation) and the cause.

Callers catch `DriverError` for "this meter failed" and keep going with the others. Messages
never contain key material or passwords.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base of every failure talking to a device."""

    kind = "error"

    def __init__(self, cause: str, *, meter: str | None = None, obis: str | None = None) -> None:
        self.cause = cause
        self.meter = meter
        self.obis = obis
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.meter:
            where.append(f"meter {self.meter}")
        if self.obis:
            where.append(f"obis {self.obis}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.kind}: {self.cause}" if prefix else f"{self.kind}: {self.cause}"

    def about(self, *, meter: str | None = None, obis: str | None = None) -> DriverError:
        """Fill in the meter / OBIS context where a lower layer did not know it; returns self."""
        if meter and not self.meter:
            self.meter = meter
        if obis and not self.obis:
            self.obis = obis
        self.args = (self._text(),)
        return self


class Timeout(DriverError):
    """No complete reply before the deadline (the deadline covers the whole reply)."""

    kind = "timeout"


class ChannelDown(DriverError):
    """The channel could not be opened, or the peer closed it."""

    kind = "channel down"


class AuthenticationFailed(DriverError):
    """Association refused: wrong password, wrong key, or HLS verification failed."""

    kind = "authentication failed"


class ObjectUnavailable(DriverError):
    """The device does not have the object or denies access to it."""

    kind = "object unavailable"


class MalformedFrame(DriverError):
    """Bytes on the wire that do not form a valid frame (bad length, CRC, structure)."""

    kind = "malformed frame"


class ReplayDetected(DriverError):
    """A ciphered reply whose invocation counter is not larger than the last one seen."""

    kind = "replay detected"


class ProtocolError(DriverError):
    """A well-formed frame that makes no sense at this point of the exchange."""

    kind = "protocol error"


class CommandRejected(DriverError):
    """The device answered a SET/ACTION/command with a refusal."""

    kind = "command rejected"


class Unsupported(DriverError):
    """The driver or the device model cannot do what was asked (e.g. no such point in a map)."""

    kind = "unsupported"

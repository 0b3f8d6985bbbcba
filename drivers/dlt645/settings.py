"""How to reach one DL/T 645-2007 meter: channel, nameplate address, relay password, timing.

Secrets (the relay password and operator code) are SecretBytes: never printed in reprs or logs.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, field_validator

from drivers.dlt645.frame import address_to_wire
from drivers.transport.settings import LinkSettings, SerialLink

DEFAULT_BAUD = 2400  # what DL/T 645 meters ship with (8E1); many also accept 1200/4800/9600
DEFAULT_PARITY: Literal["E"] = "E"


def serial_link(
    device: str, baud: int = DEFAULT_BAUD, parity: Literal["N", "E", "O"] = DEFAULT_PARITY
) -> SerialLink:
    """A serial link with the usual DL/T 645 framing: 8 data bits, even parity, 1 stop bit.

    Some pseudo-terminals refuse even parity (EINVAL when the port is configured a second time),
    so simulated lines on a pty use `parity="N"`.
    """
    return SerialLink(device=device, baud=baud, bytesize=8, parity=parity, stopbits=1)


class Dlt645Settings(BaseModel):
    """One meter on a DL/T 645 channel.

    `address` is the 12 digits printed on the nameplate (most significant first); `A` digits are
    wildcards (`AAAAAAAAAAAA` reaches the only meter on a line). `password` is 4 bytes, privilege
    level first, as configured in the meter (`02 12 34 56` = level 02, password 123456);
    `operator_code` is 4 bytes as printed. Only the plain relay-control form is implemented:
    meters that insist on the ESAM-encrypted form (privilege level 98) are out of scope.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["dlt645"] = "dlt645"
    link: LinkSettings
    address: str
    password: SecretBytes | None = None
    operator_code: SecretBytes = SecretBytes(b"\x00\x00\x00\x00")
    timeout_s: float = Field(default=3.0, gt=0, description="deadline for a whole reply")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    preamble: bool = Field(default=True, description="send FE FE FE FE before each request")
    timezone: str = Field(default="Asia/Shanghai", description="zone of the meter's clock")
    close_mode: Literal["allow", "direct"] = Field(
        default="allow",
        description="RECONNECT sends 1B (closing allowed, customer presses the button) or "
        "1C (direct close, not supported by every meter)",
    )
    command_validity_s: int = Field(default=600, ge=1, le=86_400)
    clock_drift_max_s: float | None = Field(
        default=None,
        gt=0,
        description="a clock read further than this from the head-end's time is clock-suspect "
        "(None: not checked; the head-end passes ReadingPolicy.clock_drift_max_s)",
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        address_to_wire(value)  # raises ValueError with the reason
        return value.strip().upper()

    @field_validator("password", "operator_code")
    @classmethod
    def _check_four_bytes(cls, value: SecretBytes | None) -> SecretBytes | None:
        if value is not None and len(value.get_secret_value()) != 4:
            raise ValueError("must be 4 bytes (8 hex digits)")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

"""Where a channel goes: a TCP endpoint or a serial port. Shared by every protocol."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class TcpLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(ge=1, le=65535)

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"


class SerialLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["serial"] = "serial"
    device: str
    baud: int = Field(default=9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1

    def describe(self) -> str:
        return f"serial://{self.device}?baud={self.baud}"

    @property
    def char_time_s(self) -> float:
        """Seconds one character takes on the wire (start + data + parity + stop bits)."""
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return bits / self.baud


LinkSettings = Annotated[TcpLink | SerialLink, Field(discriminator="kind")]

"""How to reach one Modbus meter: link, framing, unit id, register-map model, bus timing."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.modbus.registermap import MAPS_DIR, RegisterMap, known_models, load_map
from drivers.transport.settings import LinkSettings, SerialLink


class ModbusFraming(StrEnum):
    SOCKET = "socket"  # Modbus TCP (MBAP header)
    RTU = "rtu"  # RTU frames with CRC, on a serial port or tunnelled through a TCP gateway


class ModbusSettings(BaseModel):
    """One meter on a Modbus channel. Meters with equal `channel_key()` share one bus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["modbus"] = "modbus"
    link: LinkSettings
    framing: ModbusFraming = ModbusFraming.SOCKET
    unit: int = Field(default=1, ge=0, le=247)
    model: str
    timeout_s: float = Field(default=1.0, gt=0, description="deadline for one whole reply")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    turnaround_s: float = Field(
        default=0.0, ge=0, description="extra bus silence after each exchange (slow units)"
    )
    max_registers: int | None = Field(
        default=None, ge=1, le=125, description="per request; None = the map's limit"
    )

    maps_dir: Path | None = Field(default=None, description="site maps; None = config/maps")

    @field_validator("model", mode="before")
    @classmethod
    def _normalise_model(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_model(self) -> ModbusSettings:
        known = known_models(self.maps_dir or MAPS_DIR)
        if self.model not in known:
            raise ValueError(
                f"no register map for model {self.model!r}; known models: {', '.join(known)}"
            )
        return self

    def register_map(self) -> RegisterMap:
        return load_map(self.model, self.maps_dir or MAPS_DIR)

    def channel_key(self) -> str:
        return f"{self.framing.value}+{self.link.describe()}"

    @property
    def silence_s(self) -> float:
        """RTU inter-frame silence: 3.5 characters (fixed 1.75 ms above 19200 baud, per the
        Modbus serial line spec); none for Modbus TCP or RTU over a TCP gateway."""
        if self.framing is not ModbusFraming.RTU or not isinstance(self.link, SerialLink):
            return 0.0
        if self.link.baud > 19200:
            return 0.00175
        return 3.5 * self.link.char_time_s

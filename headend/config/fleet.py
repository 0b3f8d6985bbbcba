"""The fleet file's models: site, channels, meters, reading plans and the demo simulation section.

No secret is ever held here: a meter names a *key reference* whose material comes from a keys file
or the environment (see `keys.py`). Client system titles are not secret and may stay in the file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.dlms.settings import DlmsAuth, DlmsFraming
from drivers.errors import Unsupported
from drivers.modbus.registermap import load_map
from drivers.obis import ObisCode
from drivers.transport.settings import LinkSettings, SerialLink, TcpLink
from headend.config.keys import KeyFileEntry

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Site(_Model):
    name: Identifier = "site"
    system_title: str | None = Field(
        default=None, description="client system title, 16 hex digits (not secret)"
    )
    keys_file: str | None = Field(default=None, description="keys TOML, relative to this file")
    database: str = Field(default="var/headend.sqlite3", description="SQLite file")

    @field_validator("system_title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return _system_title(value)


class TcpChannel(_Model):
    """A TCP endpoint: a meter's own modem, a wrapper gateway, or a concentrator."""

    id: Identifier
    kind: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    max_connections: int = Field(default=1, ge=1, le=1000)

    def link(self) -> LinkSettings:
        return TcpLink(host=self.host, port=self.port)


class SerialChannel(_Model):
    """A serial port (RS-485/optical): half-duplex, one request at a time."""

    id: Identifier
    kind: Literal["serial"]
    device: str = Field(min_length=1)
    baud: int = Field(default=9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1

    def link(self) -> LinkSettings:
        return SerialLink(
            device=self.device,
            baud=self.baud,
            bytesize=self.bytesize,
            parity=self.parity,
            stopbits=self.stopbits,
        )


Channel = Annotated[Union[TcpChannel, SerialChannel], Field(discriminator="kind")]  # noqa: UP007


class DlmsMeter(_Model):
    id: Identifier
    protocol: Literal["dlms"]
    channel: Identifier
    framing: DlmsFraming | None = Field(
        default=None, description="default: wrapper on TCP channels, HDLC on serial ones"
    )
    client_address: int | None = Field(default=None, ge=0, le=0x7F)
    server_logical: int = Field(default=1, ge=0, le=0x3FFF)
    server_physical: int | None = Field(default=None, ge=0, le=0x3FFF)
    auth: DlmsAuth = DlmsAuth.NONE
    cipher: bool = False
    key: Identifier | None = Field(default=None, description="key reference")
    system_title: str | None = Field(default=None, description="client system title override")
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("system_title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return _system_title(value)

    @property
    def needs_key(self) -> bool:
        return self.auth is not DlmsAuth.NONE or self.cipher


class ModbusMeter(_Model):
    id: Identifier
    protocol: Literal["modbus"]
    channel: Identifier
    unit_id: int = Field(ge=0, le=247)
    framing: Literal["socket", "rtu"] | None = Field(
        default=None, description="default: socket (MBAP) on TCP, rtu on serial"
    )
    model: Identifier = Field(description="register map name under config/maps/")
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        # Checked at load time so a typo is a config error, not a failure at the first read.
        try:
            load_map(value)
        except (Unsupported, ValueError) as exc:
            raise ValueError(getattr(exc, "cause", str(exc))) from None
        return value

    @property
    def needs_key(self) -> bool:
        return False


class Dlt645Meter(_Model):
    id: Identifier
    protocol: Literal["dlt645"]
    channel: Identifier
    address: str = Field(pattern=r"^[0-9]{12}$", description="12 digits as on the nameplate")
    timeout_s: float | None = Field(default=None, gt=0)

    @property
    def needs_key(self) -> bool:
        return False


Meter = Annotated[Union[DlmsMeter, ModbusMeter, Dlt645Meter], Field(discriminator="protocol")]  # noqa: UP007


class ReadingPlan(_Model):
    """What to read: points by OBIS code, optionally a load profile over a window before now.

    One plan serves a fleet that mixes protocols: with `skip_unsupported` (the default) a point or
    profile that a meter's driver can never provide (not in a Modbus register map, not in the
    DL/T 645 table, a profile Modbus does not have) is skipped for that meter and listed in its
    report as skipped, not failed. DLMS meters are always asked: only the meter knows its objects.
    A plan with neither points nor a profile reads each meter's standard register set.
    """

    name: Identifier
    points: list[ObisCode] = Field(default_factory=list)
    profile: ObisCode | None = None
    skip_unsupported: bool = Field(
        default=True, description="skip points a meter's protocol or register map cannot provide"
    )
    profile_window: timedelta = Field(
        default=timedelta(days=1), description="ISO 8601 duration such as PT6H or P1D"
    )
    schedule: str | None = Field(default=None, description="for the scheduler, e.g. 'every 15m'")

    @field_validator("profile_window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class ReadingPolicy(_Model):
    """How hard to try: per-meter retries with exponential backoff, channel concurrency."""

    retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0, le=300)
    backoff_max_s: float = Field(default=30.0, ge=0)
    meter_budget_s: float = Field(
        default=120.0, gt=0, description="hang guard: one meter's whole attempt"
    )
    max_channels: int = Field(default=64, ge=1, le=10_000)


class Simulation(_Model):
    """Demo only: how `headend simulate`/`headend demo` run the fleet as simulated meters.

    `demo_keys` are DEMO VALUES for simulated meters, never for a real meter; they serve as key
    material only when neither the keys file nor the environment provides a reference.
    """

    factor: float = Field(default=60.0, ge=0)
    history: timedelta = Field(default=timedelta(hours=6))
    seed: int = 1
    demo_keys: dict[Identifier, KeyFileEntry] = Field(default_factory=dict)


class Fleet(_Model):
    site: Site = Field(default_factory=Site)
    reading: ReadingPolicy = Field(default_factory=ReadingPolicy)
    channels: list[Channel] = Field(default_factory=list)
    meters: list[Meter] = Field(default_factory=list)
    plans: list[ReadingPlan] = Field(default_factory=list)
    simulation: Simulation | None = None

    @field_validator("channels", mode="before")
    @classmethod
    def _default_kind(cls, value: object) -> object:
        # A channel without `kind` is TCP, the common case; the discriminator needs it spelled out.
        if isinstance(value, list):
            return [
                {"kind": "tcp", **item} if isinstance(item, dict) and "kind" not in item else item
                for item in value
            ]
        return value

    def channel(self, channel_id: str) -> TcpChannel | SerialChannel:
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        raise KeyError(channel_id)

    def meter(self, meter_id: str) -> DlmsMeter | ModbusMeter | Dlt645Meter:
        for meter in self.meters:
            if meter.id == meter_id:
                return meter
        raise KeyError(meter_id)

    def plan(self, name: str) -> ReadingPlan:
        for plan in self.plans:
            if plan.name == name:
                return plan
        raise KeyError(name)

    def concurrency(self, channel_id: str) -> int:
        """Sessions at once on a channel: 1 on a half-duplex one (serial, HDLC concentrator,
        RS-485 gateway carrying Modbus RTU or DL/T 645 meters)."""
        channel = self.channel(channel_id)
        if isinstance(channel, SerialChannel):
            return 1
        for meter in self.meters:
            if meter.channel == channel_id and _half_duplex(meter):
                return 1
        return channel.max_connections


def _half_duplex(meter: DlmsMeter | ModbusMeter | Dlt645Meter) -> bool:
    """Whether the meter sits on a shared bus behind its TCP channel (a gateway or concentrator)."""
    if isinstance(meter, DlmsMeter):
        return meter.framing is DlmsFraming.HDLC
    if isinstance(meter, ModbusMeter):
        return meter.framing == "rtu"
    return True  # DL/T 645 is RS-485 only: over TCP it is a serial-to-Ethernet converter


def _system_title(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError("must be hexadecimal (16 hex digits)") from None
    if len(raw) != 8:
        raise ValueError(f"must be 8 bytes (16 hex digits), got {len(raw)}")
    return raw.hex()

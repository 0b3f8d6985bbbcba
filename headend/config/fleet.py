"""The fleet file's models: site, channels, meters and the demo simulation section (reading plans
and policy: `plans.py`, re-exported here).

No secret is ever held here: a meter names a *key reference* whose material comes from a keys file
or the environment (see `keys.py`). Client system titles are not secret and may stay in the file.

Lookups by id (meters, channels, segments, plans), the meters of a channel and whether a channel is
half-duplex come from an index built once per Fleet (rebuilt only when a copy replaces its lists),
so planning a 100,000-meter run is linear, not quadratic.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from drivers.dlms.settings import DlmsAuth, DlmsFraming
from drivers.errors import Unsupported
from drivers.modbus.registermap import load_map
from drivers.transport.settings import LinkSettings, SerialLink, TcpLink
from headend.cluster.settings import ClusterSettings
from headend.config.base import FrozenModel, Identifier
from headend.config.keys import KeyFileEntry
from headend.config.load import LoadSettings
from headend.config.plans import ReadingPlan as ReadingPlan
from headend.config.plans import ReadingPolicy as ReadingPolicy
from headend.config.service import ServiceSettings
from headend.config.sinks import Sinks


class Site(FrozenModel):
    name: Identifier = "site"
    system_title: str | None = Field(
        default=None, description="client system title, 16 hex digits (not secret)"
    )
    keys_file: str | None = Field(default=None, description="keys TOML, relative to this file")
    database: str = Field(
        default="var/headend.sqlite3",
        description="store URL: a SQLite path, sqlite:///path or postgresql://user@host/db",
    )

    @field_validator("system_title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return _system_title(value)


class TcpChannel(FrozenModel):
    """A TCP endpoint: a meter's own modem, a wrapper gateway, or a concentrator."""

    id: Identifier
    kind: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    max_connections: int = Field(default=1, ge=1, le=1000)
    connect_rate_per_s: float | None = Field(
        default=None, gt=0, description="at most this many new connections per second"
    )
    segment: Identifier | None = Field(
        default=None, description="the network segment (concentrator, gateway, cell) it is in"
    )

    def link(self) -> LinkSettings:
        return TcpLink(host=self.host, port=self.port)


class SerialChannel(FrozenModel):
    """A serial port (RS-485/optical): half-duplex, one request at a time."""

    id: Identifier
    kind: Literal["serial"]
    device: str = Field(min_length=1)
    baud: int = Field(default=9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    segment: Identifier | None = None

    def link(self) -> LinkSettings:
        return SerialLink(
            device=self.device,
            baud=self.baud,
            bytesize=self.bytesize,
            parity=self.parity,
            stopbits=self.stopbits,
        )


Channel = Annotated[Union[TcpChannel, SerialChannel], Field(discriminator="kind")]  # noqa: UP007


class Segment(FrozenModel):
    """A network segment shared by several channels (a concentrator, a gateway, a radio cell):
    its limits bound the sessions and new connections of all its channels together."""

    id: Identifier
    max_sessions: int = Field(default=16, ge=1, le=100_000)
    connect_rate_per_s: float | None = Field(default=None, gt=0)


class DlmsMeter(FrozenModel):
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


class ModbusMeter(FrozenModel):
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
        problem = _map_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def needs_key(self) -> bool:
        return False


@functools.lru_cache(maxsize=256)
def _map_problem(model: str) -> str | None:
    """Why a register map cannot be loaded, or None; cached: a 100,000-meter file names a handful
    of models, and loading a map for every meter was most of the load time."""
    try:
        load_map(model)
    except (Unsupported, ValueError) as exc:
        return str(getattr(exc, "cause", exc))
    return None


class Dlt645Meter(FrozenModel):
    id: Identifier
    protocol: Literal["dlt645"]
    channel: Identifier
    address: str = Field(pattern=r"^[0-9]{12}$", description="12 digits as on the nameplate")
    timeout_s: float | None = Field(default=None, gt=0)

    @property
    def needs_key(self) -> bool:
        return False


Meter = Annotated[Union[DlmsMeter, ModbusMeter, Dlt645Meter], Field(discriminator="protocol")]  # noqa: UP007


class Simulation(FrozenModel):
    """Demo only: how `headend simulate`/`headend demo` run the fleet as simulated meters.

    `demo_keys` are DEMO VALUES for simulated meters, never for a real meter; they serve as key
    material only when neither the keys file nor the environment provides a reference.
    """

    factor: float = Field(default=60.0, ge=0)
    history: timedelta = Field(default=timedelta(hours=6))
    seed: int = 1
    pv_share: float = Field(
        default=0.2, ge=0, le=1, description="share of the simulated households with rooftop PV"
    )
    clock_origin: datetime | None = Field(
        default=None,
        description="written by `headend simulate`: the wall-clock time its simulated clock "
        "started; `headend run` then follows the same simulated time",
    )
    clock_start: datetime | None = Field(
        default=None,
        description="the simulated time at `clock_origin` (`headend simulate --start`); "
        "default: the origin itself (simulated time starts at the real time)",
    )
    demo_keys: dict[Identifier, KeyFileEntry] = Field(default_factory=dict)


class Fleet(FrozenModel):
    site: Site = Field(default_factory=Site)
    reading: ReadingPolicy = Field(default_factory=ReadingPolicy)
    channels: list[Channel] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    meters: list[Meter] = Field(default_factory=list)
    plans: list[ReadingPlan] = Field(default_factory=list)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    simulation: Simulation | None = None
    sinks: Sinks | None = None
    load: LoadSettings | None = None
    billing: dict[str, Any] | None = None  # checked by billing (billing/config.py), kept as is
    # scale-out over NATS JetStream (`headend run --role scheduler|worker`); None: one process
    cluster: ClusterSettings | None = None
    _cache: _FleetIndex | None = PrivateAttr(default=None)

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

    @model_validator(mode="after")
    def _load_meters(self) -> Fleet:
        # The load section's feeders and households name meters of this file.
        if self.load is not None:
            problems = self.load.problems({m.id for m in self.meters}, prefix="load")
            if problems:
                raise ValueError("; ".join(f"{path}: {reason}" for path, reason in problems))
        return self

    @property
    def index(self) -> _FleetIndex:
        """The lookup tables, built on first use; a copy with other lists gets its own."""
        # Straight to pydantic's private dict: `self._cache` goes through a slow __getattr__,
        # and this runs once per lookup.
        private = self.__pydantic_private__
        if private is None:
            private = self.__pydantic_private__ = {}
        cache: _FleetIndex | None = private.get("_cache")
        if cache is None or not cache.built_from(self):
            cache = _FleetIndex(self)
            private["_cache"] = cache
        return cache

    def channel(self, channel_id: str) -> TcpChannel | SerialChannel:
        return self.index.channels[channel_id]

    def meter(self, meter_id: str) -> DlmsMeter | ModbusMeter | Dlt645Meter:
        return self.index.meters[meter_id][1]

    def meter_position(self, meter_id: str) -> int:
        """The meter's index in `meters` (for error key paths such as `meters[12]`)."""
        return self.index.meters[meter_id][0]

    def meters_on(self, channel_id: str) -> list[DlmsMeter | ModbusMeter | Dlt645Meter]:
        return list(self.index.by_channel.get(channel_id, ()))

    def segment(self, segment_id: str) -> Segment:
        return self.index.segments[segment_id]

    def plan(self, name: str) -> ReadingPlan:
        for plan in self.plans:  # a handful of plans: a scan is fine
            if plan.name == name:
                return plan
        raise KeyError(name)

    def half_duplex(self, channel_id: str) -> bool:
        """One session at a time: a serial line, an HDLC concentrator, an RS-485 gateway carrying
        Modbus RTU or DL/T 645 meters."""
        self.index.channels[channel_id]  # KeyError for an unknown channel
        return channel_id in self.index.half_duplex

    def concurrency(self, channel_id: str) -> int:
        """Sessions at once on a channel: 1 on a half-duplex one, else its connection limit."""
        channel = self.channel(channel_id)
        if self.half_duplex(channel_id) or isinstance(channel, SerialChannel):
            return 1
        return channel.max_connections


class _FleetIndex:
    """Lookup tables of one Fleet's lists (first occurrence wins for a duplicate id: the
    loader's cross-check reports duplicates)."""

    __slots__ = ("_sources", "by_channel", "channels", "half_duplex", "meters", "segments")

    def __init__(self, fleet: Fleet) -> None:
        self._sources = (fleet.meters, fleet.channels, fleet.segments)
        self.channels: dict[str, TcpChannel | SerialChannel] = {}
        for channel in fleet.channels:
            self.channels.setdefault(channel.id, channel)
        self.segments: dict[str, Segment] = {}
        for segment in fleet.segments:
            self.segments.setdefault(segment.id, segment)
        self.meters: dict[str, tuple[int, DlmsMeter | ModbusMeter | Dlt645Meter]] = {}
        self.by_channel: dict[str, list[DlmsMeter | ModbusMeter | Dlt645Meter]] = {}
        self.half_duplex: set[str] = {c.id for c in fleet.channels if isinstance(c, SerialChannel)}
        half_duplex = self.half_duplex
        for i, meter in enumerate(fleet.meters):
            self.meters.setdefault(meter.id, (i, meter))
            self.by_channel.setdefault(meter.channel, []).append(meter)
            if meter.channel not in half_duplex and _half_duplex(meter):
                half_duplex.add(meter.channel)

    def built_from(self, fleet: Fleet) -> bool:
        # Identity, not equality: a model_copy(update=...) brings new lists, a plain copy does not.
        meters, channels, segments = self._sources
        return meters is fleet.meters and channels is fleet.channels and segments is fleet.segments


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

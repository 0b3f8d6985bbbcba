"""The fleet generator behind `headend simulate --meters N`: a fleet file for N simulated meters.

The fleet is made of, in this order, C data concentrators with K DLMS HDLC meters each, G RS-485
gateways with Modbus RTU units (a mix of the DTSU666, SDM630 and SDM120 maps), L DL/T 645 lines
behind serial-to-Ethernet converters, and GPRS meters (DLMS wrapper) for the rest of N. Each GPRS
meter has its own channel at its own loopback address (127.1.0.1 upward) on one port, 4059 by
default, as real GPRS meters each have their own IP address on the standard DLMS/COSEM port.
When N is smaller than the concentrators, gateways and lines would hold, the last of them get
fewer meters and the ones left empty are not generated.

A share of the DLMS meters (`cipher_share`, spread evenly over the fleet) uses HLS-GMAC with
global ciphering, with a few public DEMO keys in `[simulation.demo_keys]` shared by many meters.

`generate(shape)` returns the fleet as TOML-shaped data (what `load_config` reads), `to_toml`
renders it; the ports of the concentrators, gateways and lines are filled in once they listen.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.sim import physics
from headend.config.default_plans import DEFAULT_PLANS

DEMO_SYSTEM_TITLE = "4845414445303031"  # "HEADE001", the head-end's client system title
DEMO_HLS_KEYS = 4
MODBUS_MODELS = ("dtsu666", "sdm630", "sdm120")
FIRST_PHYSICAL = 16
MAX_PHYSICAL = 0x3FFF
FIRST_GPRS = int(ipaddress.IPv4Address("127.1.0.1"))
PLACEHOLDER_PORT = 1  # replaced by the port the simulator binds
ACCELERATED_DRIFT_S = 365 * 24 * 3600.0
"""Clock-drift threshold written for an accelerated simulation (a year of simulated drift)."""
DAILY_REGISTERS = [
    physics.IMPORT_TOTAL,
    *physics.IMPORT_TARIFF,
    physics.EXPORT_TOTAL,
    physics.CLOCK,
]


class FleetShape(BaseModel):
    """What to generate (the command line's numbers, checked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    meters: int = Field(ge=1, le=1_000_000)
    concentrators: int = Field(default=0, ge=0)
    meters_per_concentrator: int = Field(default=100, ge=1, le=MAX_PHYSICAL - FIRST_PHYSICAL)
    modbus_gateways: int = Field(default=0, ge=0)
    units_per_gateway: int = Field(default=16, ge=1, le=247)
    dlt645_lines: int = Field(default=0, ge=0)
    meters_per_line: int = Field(default=8, ge=1, le=9999)
    cipher_share: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 1
    factor: float = Field(default=60.0, ge=0)
    history: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    host: str = "127.0.0.1"
    gprs_port: int = Field(default=4059, ge=0, le=65535)

    @model_validator(mode="after")
    def _fits(self) -> FleetShape:
        if self.gprs_meters > 16_000_000:
            raise ValueError("too many GPRS meters for the 127/8 loopback network")
        return self

    @property
    def gprs_meters(self) -> int:
        held = (
            self.concentrators * self.meters_per_concentrator
            + self.modbus_gateways * self.units_per_gateway
            + self.dlt645_lines * self.meters_per_line
        )
        return max(0, self.meters - held)


def gprs_address(index: int) -> str:
    """The loopback address of GPRS meter `index` (0-based): 127.1.0.1 upward, skipping host
    parts .0 and .255 so no address looks like a network or broadcast address."""
    per_block = 254
    block, host = divmod(index, per_block)
    return str(ipaddress.IPv4Address(FIRST_GPRS - 1 + block * 256 + host + 1))


def _width(count: int, least: int) -> int:
    return max(least, len(str(count)))


def _demo_key(index: int, part: str) -> str:
    # Public, reproducible demo values: never configure them on a real meter.
    return hashlib.sha256(f"headend-demo-hls-{index}-{part}".encode()).hexdigest()[:32]


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, wanted: int) -> int:
        got = min(wanted, self.left)
        self.left -= got
        return got


def generate(shape: FleetShape) -> dict[str, Any]:
    """The generated fleet as TOML-shaped data."""
    budget = _Budget(shape.meters)
    channels: list[dict[str, Any]] = []
    meters: list[dict[str, Any]] = []
    dlms: list[dict[str, Any]] = []  # the DLMS meters, to spread the ciphered share over

    def groups(prefix: str, how_many: int, per_group: int) -> Iterator[tuple[int, str, int]]:
        """(index from 1, channel id, meters on it) for each shared channel the budget fills;
        each channel is added to the file as it is handed out."""
        width = _width(how_many, 2)
        for index in range(1, how_many + 1):
            count = budget.take(per_group)
            if not count:
                return
            channel = f"{prefix}{index:0{width}d}"
            channels.append({"id": channel, "host": shape.host, "port": PLACEHOLDER_PORT})
            yield index, channel, count

    m_w = _width(shape.meters_per_concentrator, 4)
    for _c, channel, count in groups("dc", shape.concentrators, shape.meters_per_concentrator):
        for m in range(1, count + 1):
            meter = {
                "id": f"{channel}-{m:0{m_w}d}",
                "protocol": "dlms",
                "channel": channel,
                "framing": "hdlc",
                "server_physical": FIRST_PHYSICAL + m,
            }
            meters.append(meter)
            dlms.append(meter)

    for g, channel, count in groups("mb", shape.modbus_gateways, shape.units_per_gateway):
        for unit in range(1, count + 1):
            meters.append(
                {
                    "id": f"{channel}-u{unit:02d}",
                    "protocol": "modbus",
                    "channel": channel,
                    "framing": "rtu",
                    "unit_id": unit,
                    "model": MODBUS_MODELS[(g + unit) % len(MODBUS_MODELS)],
                }
            )

    for line, channel, count in groups("dlt", shape.dlt645_lines, shape.meters_per_line):
        for m in range(1, count + 1):
            meters.append(
                {
                    "id": f"{channel}-m{m}",
                    "protocol": "dlt645",
                    "channel": channel,
                    "address": f"{line:08d}{m:04d}",
                }
            )

    gprs = budget.take(budget.left)
    gprs_w = _width(gprs, 6)
    for i in range(gprs):
        meter_id = f"gprs-{i + 1:0{gprs_w}d}"
        port = shape.gprs_port or PLACEHOLDER_PORT  # 0: a free port, filled in later
        channels.append({"id": meter_id, "host": gprs_address(i), "port": port})
        meter = {"id": meter_id, "protocol": "dlms", "channel": meter_id}
        meters.append(meter)
        dlms.append(meter)

    keys_used = _cipher(dlms, shape.cipher_share)
    simulation: dict[str, Any] = {
        "factor": shape.factor,
        "history": _iso_duration(shape.history),
        "seed": shape.seed,
    }
    if keys_used:
        simulation["demo_keys"] = {
            f"demo-hls-{k}": {"auth_key": _demo_key(k, "auth"), "block_key": _demo_key(k, "block")}
            for k in range(keys_used)
        }
    return {
        "site": {"name": "generated", "system_title": DEMO_SYSTEM_TITLE},
        "reading": _reading(shape),
        "simulation": simulation,
        "plans": [
            {"name": "daily-registers", "points": DAILY_REGISTERS},
            {
                "name": "daily",
                "points": DAILY_REGISTERS,
                "profile": physics.LOAD_PROFILE,
                "profile_window": "P1D",
            },
            *DEFAULT_PLANS,  # scheduled: what `headend run` collects
        ],
        "channels": channels,
        "meters": meters,
    }


def _reading(shape: FleetShape) -> dict[str, Any]:
    reading: dict[str, Any] = {"max_channels": 100_000}
    if shape.factor != 1:
        # accelerated simulated time: the meters' clocks run away from the head-end's by design,
        # which the clock-drift check would flag on every read
        reading["clock_drift_max_s"] = ACCELERATED_DRIFT_S
    return reading


def _cipher(dlms: list[dict[str, Any]], share: float) -> int:
    """Make `share` of the DLMS meters HLS-GMAC + ciphered, spread evenly; returns the number
    of demo keys they use."""
    ciphered = 0
    for j, meter in enumerate(dlms):
        if int((j + 1) * share) > int(j * share):
            meter.update(auth="hls-gmac", cipher=True, key=f"demo-hls-{ciphered % DEMO_HLS_KEYS}")
            ciphered += 1
    return min(ciphered, DEMO_HLS_KEYS)


def _iso_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    return f"P{days}D" if not rest else f"P{days}DT{rest}S" if days else f"PT{rest}S"


def counts(data: dict[str, Any]) -> dict[str, int]:
    """Meters per kind in generated data: GPRS, concentrator (HDLC), Modbus, DL/T 645."""
    kinds = {"gprs": 0, "hdlc": 0, "modbus": 0, "dlt645": 0}
    for meter in data["meters"]:
        if meter["protocol"] == "dlms":
            kinds["hdlc" if meter.get("framing") == "hdlc" else "gprs"] += 1
        else:
            kinds[meter["protocol"]] += 1
    return kinds


# -- TOML ------------------------------------------------------------------------------------


def to_toml(data: dict[str, Any], header: str = "") -> str:
    """Render generated data as TOML (tables of scalars and string lists, nested tables, arrays
    of tables: what `generate` produces; not a general TOML writer)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines.extend(_table_lines([], data))
    return "\n".join(lines) + "\n"


def _table_lines(path: list[str], table: dict[str, Any]) -> Iterator[str]:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict | list) or _is_array(v)}
    if path and (scalars or not table):
        yield ""
        yield f"[{'.'.join(_key(p) for p in path)}]"
    for key, value in scalars.items():
        yield f"{_key(key)} = {_value(value)}"
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _table_lines([*path, key], value)
        elif isinstance(value, list) and not _is_array(value):
            for item in value:
                yield ""
                yield f"[[{'.'.join(_key(p) for p in [*path, key])}]]"
                for k, v in item.items():
                    yield f"{_key(k)} = {_value(v)}"


def _is_array(value: object) -> bool:
    return isinstance(value, list) and not any(isinstance(v, dict) for v in value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN_TEXT = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but for `"` and `\`


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _value(value: object) -> str:
    # a generated fleet is 100,000 tables: the common case (plain text) is kept cheap
    if isinstance(value, str) and _PLAIN_TEXT.fullmatch(value):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat()  # an RFC 3339 time with its offset is a TOML offset date-time
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of ASCII text is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")

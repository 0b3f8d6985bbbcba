"""Which driver serves which protocol: URL scheme -> settings parser, protocol -> session opener.

A protocol plugs in with one `DriverEntry` line. Its modules are imported lazily, so validating a
configuration never loads a codec it does not need (dlms_cosem is slow to import).

Each protocol provides `parse_url(url) -> Settings` (DLMS also takes `env=` for its secrets) and a
session opener `open(settings, *, meter_id, counters=None)` returning (or awaiting to) a
`MeterSession`, used as an async context manager. The settings models carry a `protocol`
literal that discriminates them (`device_settings_adapter()`).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union, cast

from pydantic import Field, TypeAdapter

from drivers.contract import CounterStore, MeterSession, Point

if TYPE_CHECKING:
    from drivers.dlms.settings import DlmsSettings
    from drivers.dlt645.settings import Dlt645Settings
    from drivers.modbus.settings import ModbusSettings

AnySettings = Union["DlmsSettings", "ModbusSettings", "Dlt645Settings"]
"""Settings of any supported protocol (each model has a `protocol` literal)."""


def device_settings_adapter() -> TypeAdapter[AnySettings]:
    """A pydantic adapter for settings of any protocol, discriminated by `protocol`.

    Built on demand so that importing the registry does not import every driver (pymodbus alone
    takes about a second).
    """
    from typing import Annotated

    from drivers.dlms.settings import DlmsSettings
    from drivers.dlt645.settings import Dlt645Settings
    from drivers.modbus.settings import ModbusSettings

    union = Annotated[
        Union[DlmsSettings, ModbusSettings, Dlt645Settings],  # noqa: UP007
        Field(discriminator="protocol"),
    ]
    return TypeAdapter(union)


# The register set read when a user names no points: energy totals and per tariff, power,
# voltages and currents, and the meter clock (IEC 62056-6-1 / IDIS names).
STANDARD_REGISTERS: tuple[str, ...] = (
    "1.0.1.8.0.255",
    "1.0.1.8.1.255",
    "1.0.1.8.2.255",
    "1.0.1.8.3.255",
    "1.0.1.8.4.255",
    "1.0.2.8.0.255",
    "1.0.1.7.0.255",
    "1.0.2.7.0.255",
    "1.0.32.7.0.255",
    "1.0.31.7.0.255",
    "0.0.1.0.0.255",
)


@dataclass(frozen=True, slots=True)
class DriverEntry:
    protocol: str
    schemes: tuple[str, ...]
    url_module: str
    session_module: str
    opener: str
    parser_takes_env: bool = False
    default_points: tuple[str, ...] = STANDARD_REGISTERS


def default_points(settings: AnySettings) -> list[Point]:
    """The meter's standard register set: a Modbus meter's is whatever its register map holds,
    a DL/T 645 meter's every data identifier of the driver's table (and the clock)."""
    if settings.protocol == "modbus":
        from drivers.modbus.registermap import MAPS_DIR, map_points

        return map_points(settings.model, settings.maps_dir or MAPS_DIR)
    if settings.protocol == "dlt645":
        from drivers.dlt645.identifiers import default_points as dlt645_points

        return dlt645_points()
    entry = driver_for_protocol(settings.protocol)
    return [Point(obis=obis) for obis in entry.default_points]


def supported_obis(settings: AnySettings) -> frozenset[str] | None:
    """Every OBIS code (registers and profiles) the driver can ever provide for this meter, or
    None when only the meter itself knows (DLMS: any COSEM object may exist).

    A Modbus meter provides what its register map defines (no profile); a DL/T 645 meter what the
    driver's data identifier table defines (and the daily freeze profile). Reading plans use this
    to skip points a meter cannot have, instead of asking for them and failing.
    """
    if settings.protocol == "modbus":
        from drivers.modbus.registermap import MAPS_DIR, map_points

        return frozenset(p.obis for p in map_points(settings.model, settings.maps_dir or MAPS_DIR))
    if settings.protocol == "dlt645":
        from drivers.dlt645.identifiers import supported_obis as dlt645_obis

        return frozenset(dlt645_obis())
    return None


DRIVERS: tuple[DriverEntry, ...] = (
    DriverEntry(
        "dlms",
        ("dlms+tcp", "dlms+hdlc+tcp", "dlms+serial"),
        "drivers.dlms.url",
        "drivers.dlms.client.session",
        "open_dlms_session",
        parser_takes_env=True,
    ),
    DriverEntry(
        "modbus",
        ("modbus+tcp", "modbus+rtu", "modbus+rtutcp"),
        "drivers.modbus.url",
        "drivers.modbus.session",
        "open_session",
    ),
    DriverEntry(
        "dlt645",
        ("dlt645+serial", "dlt645+tcp"),
        "drivers.dlt645.url",
        "drivers.dlt645.session",
        "open_session",
        parser_takes_env=True,
    ),
)


class DeviceUrlError(ValueError):
    """A device URL that cannot be used; the message says why and what is expected."""


def supported_schemes() -> list[str]:
    return [scheme for entry in DRIVERS for scheme in entry.schemes]


def driver_for_protocol(protocol: str) -> DriverEntry:
    for entry in DRIVERS:
        if entry.protocol == protocol:
            return entry
    raise KeyError(f"no driver for protocol {protocol!r}")


def parse_device_url(url: str, *, env: Mapping[str, str] | None = None) -> AnySettings:
    """Settings from a device URL; `DeviceUrlError` names the (redacted) URL and the reason."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    entry = next((e for e in DRIVERS if scheme in e.schemes), None)
    if entry is None:
        raise DeviceUrlError(
            f"{redact_url(url)}: unknown scheme {scheme or '(none)'!r}; "
            f"supported: {', '.join(supported_schemes())}"
        )
    module = importlib.import_module(entry.url_module)
    parser: Callable[..., AnySettings] = module.parse_url
    try:
        if entry.parser_takes_env:
            return parser(url, env=env)
        return parser(url)
    except ValueError as exc:
        raise DeviceUrlError(f"{redact_url(url)}: {_reason(url, exc)}") from None


async def open_meter_session(
    settings: AnySettings, *, meter_id: str, counters: CounterStore | None = None
) -> MeterSession:
    """A session with the driver for `settings.protocol`; use it as `async with session:`.

    Openers may connect at once (DLMS: `await open_dlms_session(...)`) or return a session that
    connects on `__aenter__`; both are accepted, so callers always `async with` the result.
    """
    entry = driver_for_protocol(settings.protocol)
    module = importlib.import_module(entry.session_module)
    opener: Callable[..., Any] = getattr(module, entry.opener)
    session = opener(settings, meter_id=meter_id, counters=counters)
    if inspect.isawaitable(session):
        session = await session
    return cast(MeterSession, session)


def _reason(url: str, exc: ValueError) -> str:
    """The parser's message without a repeated URL prefix or pydantic's "Value error, " noise."""
    text = str(exc)
    for prefix in (f"{url}: ", f"{redact_url(url)}: ", "url: "):
        text = text.removeprefix(prefix)
    return text.replace("Value error, ", "")


_USERINFO = re.compile(r"(://)[^/@]*@")
_SECRET_QUERY = re.compile(r"((?:password|pw|key|auth_key|block_key)=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL safe for messages and logs: user info and secret-looking options blanked."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", url))

"""Per-meter driver settings built from the fleet and its key store.

Secrets are resolved here, at the last moment, and travel only inside SecretBytes fields of the
driver settings; jobs and reports carry meter ids, never settings.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from drivers.dlms.url import build_settings
from drivers.registry import AnySettings
from headend.config.errors import ConfigError
from headend.config.fleet import (
    DlmsMeter,
    Dlt645Meter,
    ModbusMeter,
    SerialChannel,
    TcpChannel,
)
from headend.config.loader import HeadendConfig


def meter_settings(config: HeadendConfig, meter_id: str) -> AnySettings:
    """Driver settings for one configured meter; `ConfigError` if it cannot be built."""
    fleet = config.fleet
    try:
        index = fleet.meter_position(meter_id)
    except KeyError:
        raise ConfigError.one(config.path, "meters", f"no meter {meter_id!r} is defined") from None
    meter = fleet.meters[index]
    where = f"meters[{index}]"
    channel = fleet.channel(meter.channel)
    if not isinstance(meter, DlmsMeter):
        return _other_settings(config, where, meter, channel)
    fields: dict[str, Any] = {
        "framing": meter.framing,
        "link": channel.link(),
        "client_address": meter.client_address,
        "server_logical": meter.server_logical,
        "server_physical": meter.server_physical,
        "auth": meter.auth,
        "cipher": meter.cipher,
        "clock_drift_max_s": fleet.reading.clock_drift_max_s,
    }
    if meter.timeout_s is not None:
        fields["timeout_s"] = meter.timeout_s
        fields["connect_timeout_s"] = meter.timeout_s
    title = meter.system_title or fleet.site.system_title
    if title is not None:
        fields["system_title"] = bytes.fromhex(title)
    if meter.key is not None and meter.needs_key:
        try:
            material = config.keys.resolve(meter.key)
        except ValueError as exc:
            raise ConfigError.one(config.path, f"{where}.key", str(exc)) from None
        if material is None:
            raise ConfigError.one(
                config.path, f"{where}.key", f"key reference {meter.key!r} not found"
            )
        for name in ("password", "auth_key", "block_key"):
            value = getattr(material, name)
            if value is not None:
                fields[name] = value
    try:
        return build_settings(fields)
    except ValueError as exc:
        raise ConfigError.one(config.path, where, str(exc)) from None


def _other_settings(
    config: HeadendConfig,
    where: str,
    meter: ModbusMeter | Dlt645Meter,
    channel: TcpChannel | SerialChannel,
) -> AnySettings:
    fields: dict[str, Any] = {"link": channel.link()}
    if meter.timeout_s is not None:
        fields["timeout_s"] = meter.timeout_s
    try:
        if isinstance(meter, ModbusMeter):
            from drivers.modbus.settings import ModbusFraming, ModbusSettings

            serial = isinstance(channel, SerialChannel)
            framing = meter.framing or ("rtu" if serial else "socket")
            return ModbusSettings(
                **fields, framing=ModbusFraming(framing), unit=meter.unit_id, model=meter.model
            )
        from drivers.dlt645.settings import Dlt645Settings

        return Dlt645Settings(
            **fields,
            address=meter.address,
            clock_drift_max_s=config.fleet.reading.clock_drift_max_s,
        )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError.one(config.path, where, reasons) from None

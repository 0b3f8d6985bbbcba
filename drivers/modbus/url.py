"""Modbus meter URLs, as typed on the command line or in a fleet file.

    modbus+tcp://HOST:PORT?unit=1&model=dtsu666            Modbus TCP (MBAP)
    modbus+rtu:///dev/ttyX?baud=9600&parity=N&unit=1&model=sdm630   RTU on a serial port
    modbus+rtutcp://HOST:PORT?unit=1&model=sdm120          RTU frames through a TCP gateway

Optional query keys: bytesize, stopbits, timeout (s), turnaround (s), max_registers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError

from drivers.modbus.settings import ModbusFraming, ModbusSettings
from drivers.transport.settings import SerialLink, TcpLink

SCHEMES = ("modbus+tcp", "modbus+rtu", "modbus+rtutcp")
_DEFAULT_PORT = 502
_SERIAL_KEYS = {"baud", "parity", "bytesize", "stopbits"}
_COMMON_KEYS = {"unit", "model", "timeout", "turnaround", "max_registers"}


def parse_url(url: str) -> ModbusSettings:
    """A ModbusSettings from a URL; ValueError naming the URL and what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"{url}: scheme must be one of {', '.join(SCHEMES)}")
    query: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if len(values) != 1:
            raise ValueError(f"{url}: {key} given more than once")
        query[key] = values[0]
    allowed = _COMMON_KEYS | (_SERIAL_KEYS if scheme == "modbus+rtu" else set())
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ValueError(f"{url}: unknown parameter(s) {', '.join(unknown)}")
    if "model" not in query:
        raise ValueError(f"{url}: model=... is required (the meter's register map)")
    fields: dict[str, Any] = {"model": query["model"]}
    for key, field in (
        ("unit", "unit"),
        ("timeout", "timeout_s"),
        ("turnaround", "turnaround_s"),
        ("max_registers", "max_registers"),
    ):
        if key in query:
            fields[field] = query[key]
    try:
        if scheme == "modbus+rtu":
            device = unquote(parts.path)
            if not device:
                raise ValueError(f"{url}: no serial device path")
            serial: dict[str, Any] = {"device": device}
            for key in ("baud", "parity", "bytesize", "stopbits"):
                if key in query:
                    serial[key] = query[key].upper() if key == "parity" else query[key]
            fields["link"] = SerialLink.model_validate(serial)
            fields["framing"] = ModbusFraming.RTU
        else:
            if not parts.hostname:
                raise ValueError(f"{url}: no host")
            port = parts.port or _DEFAULT_PORT
            fields["link"] = TcpLink(host=parts.hostname, port=port)
            fields["framing"] = (
                ModbusFraming.RTU if scheme == "modbus+rtutcp" else ModbusFraming.SOCKET
            )
        return ModbusSettings.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "url"
        raise ValueError(f"{url}: {where}: {first['msg']}") from None

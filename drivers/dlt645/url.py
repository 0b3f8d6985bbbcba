"""Meter URLs for the command line and configs.

    dlt645+serial:///dev/ttyUSB0?baud=2400&address=123456789012
    dlt645+tcp://HOST:PORT?address=123456789012

Serial links default to 2400 baud 8E1 (`parity=N|E|O` to change). Optional query keys: `timeout`
(seconds), `preamble` (0/1), `timezone`. Secrets are never taken from a URL (it lands in shell
history and process lists): the relay-control password and operator code come from the environment,
`HEADEND_PASSWORD` and `HEADEND_OPERATOR` (8 hex digits each, e.g. `02123456` = level 02,
password 123456), as for DLMS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretBytes, ValidationError

from drivers.dlt645.settings import DEFAULT_BAUD, Dlt645Settings, serial_link
from drivers.transport.settings import TcpLink

SCHEMES = ("dlt645+serial", "dlt645+tcp")
_KEYS = {"address", "baud", "parity", "timeout", "preamble", "timezone"}
_SECRET_KEYS = {"password", "operator"}
_SECRET_ENV = (("HEADEND_PASSWORD", "password"), ("HEADEND_OPERATOR", "operator_code"))


def parse_url(url: str, env: Mapping[str, str] | None = None) -> Dlt645Settings:
    """Settings from a `dlt645+serial://` or `dlt645+tcp://` URL and the environment's secrets.

    ValueError says what is wrong; it never repeats the password or operator code.
    """
    environ = os.environ if env is None else env
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a DL/T 645 URL (want {' or '.join(SCHEMES)}://...)")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    secret = sorted(set(query) & _SECRET_KEYS)
    if secret:
        raise ValueError(
            f"{', '.join(secret)} is not accepted in a URL; "
            "set HEADEND_PASSWORD / HEADEND_OPERATOR in the environment"
        )
    unknown = sorted(set(query) - _KEYS)
    if unknown:
        raise ValueError(f"unknown DL/T 645 URL parameter(s): {', '.join(unknown)}")
    if "address" not in query:
        raise ValueError("DL/T 645 URL needs address=<12 digits from the nameplate>")
    try:
        if parts.scheme == "dlt645+serial":
            if not parts.path:
                raise ValueError("dlt645+serial URL needs a device path")
            parity = query.get("parity", "E").upper()
            if parity not in ("N", "E", "O"):
                raise ValueError("parity must be N, E or O")
            baud = int(query.get("baud", DEFAULT_BAUD))
            link: Any = serial_link(parts.path, baud, cast(Literal["N", "E", "O"], parity))
        else:
            if not parts.hostname or parts.port is None:
                raise ValueError("dlt645+tcp URL needs HOST:PORT")
            link = TcpLink(host=parts.hostname, port=parts.port)
        fields: dict[str, Any] = {"link": link, "address": query["address"]}
        if "timeout" in query:
            fields["timeout_s"] = float(query["timeout"])
        if "preamble" in query:
            fields["preamble"] = query["preamble"].lower() in ("1", "true", "yes", "on")
        if "timezone" in query:
            fields["timezone"] = query["timezone"]
        for variable, name in _SECRET_ENV:
            if environ.get(variable):
                fields[name] = SecretBytes(_secret_hex(variable, environ[variable]))
        return Dlt645Settings(**fields)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"invalid DL/T 645 URL: {reasons}") from None


def _secret_hex(key: str, text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{key} must be 8 hex digits") from None
    if len(raw) != 4:
        raise ValueError(f"{key} must be 8 hex digits")
    return raw

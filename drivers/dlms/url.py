"""Device URLs for DLMS/COSEM meters, as typed on the command line.

- `dlms+tcp://HOST:PORT` — IEC 62056-47 wrapper over TCP (a GPRS/Ethernet meter)
- `dlms+hdlc+tcp://HOST:PORT` — HDLC over TCP (a concentrator's transparent channel)
- `dlms+serial:///dev/ttyUSB0?baud=9600` — HDLC over a serial port

Query options: `client` (client SAP), `server` (server logical address), `physical` (HDLC physical
address), `auth` (none|low|hls-gmac), `cipher` (true|false), `timeout` (seconds), and for serial
`baud`, `parity`, `bytesize`, `stopbits`.

Secrets are never accepted in a URL (URLs end up in shell history, process lists and logs); they
come from the environment: `HEADEND_PASSWORD` (LLS, text), `HEADEND_AUTH_KEY` and
`HEADEND_BLOCK_KEY` (hex, 16 bytes) and `HEADEND_SYSTEM_TITLE` (hex, 8 bytes, not secret but kept
alongside the keys).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretBytes, ValidationError

from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.transport.settings import SerialLink, TcpLink

SCHEMES = ("dlms+tcp", "dlms+hdlc+tcp", "dlms+serial")

USAGE = (
    "expected dlms+tcp://HOST:PORT (wrapper), dlms+hdlc+tcp://HOST:PORT (HDLC over TCP) or "
    "dlms+serial:///dev/ttyX?baud=9600 (HDLC), with options ?client=N&server=N&physical=N"
    "&auth=none|low|hls-gmac&cipher=true|false&timeout=S"
)

_SECRET_OPTIONS = {"password", "pw", "key", "auth_key", "block_key", "authkey", "blockkey"}
_INT_OPTIONS = {
    "client": "client_address",
    "server": "server_logical",
    "physical": "server_physical",
}
_SERIAL_OPTIONS = {"baud", "parity", "bytesize", "stopbits"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

ENV_PASSWORD = "HEADEND_PASSWORD"
ENV_AUTH_KEY = "HEADEND_AUTH_KEY"
ENV_BLOCK_KEY = "HEADEND_BLOCK_KEY"
ENV_SYSTEM_TITLE = "HEADEND_SYSTEM_TITLE"


def parse_url(url: str, *, env: Mapping[str, str] | None = None) -> DlmsSettings:
    """Settings for one DLMS meter from its URL; secrets from `env` (default: os.environ).

    Raises ValueError with a message naming what is wrong and never echoing a secret.
    """
    environ = os.environ if env is None else env
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {parts.scheme or '(none)'!r}; {USAGE}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"credentials are not accepted in the URL; set {ENV_PASSWORD} in the environment"
        )
    options = _options(parts.query)
    fields: dict[str, Any] = {}
    if scheme == "dlms+serial":
        device = parts.path
        if not device or parts.netloc:
            raise ValueError(f"serial URL needs a device path (dlms+serial:///dev/ttyX); {USAGE}")
        serial: dict[str, Any] = {"device": device}
        for name in _SERIAL_OPTIONS & options.keys():
            serial[name] = options.pop(name) if name == "parity" else _int(options, name)
        if "parity" in serial:
            serial["parity"] = str(serial["parity"]).upper()
        fields["link"] = SerialLink.model_validate(serial)
        fields["framing"] = DlmsFraming.HDLC
    else:
        fields["link"] = _tcp_link(parts.hostname, parts)
        fields["framing"] = DlmsFraming.WRAPPER if scheme == "dlms+tcp" else DlmsFraming.HDLC
    for option, field in _INT_OPTIONS.items():
        if option in options:
            fields[field] = _int(options, option)
    if "auth" in options:
        auth = options.pop("auth").lower()
        if auth not in {a.value for a in DlmsAuth}:
            raise ValueError(f"option auth={auth!r}: expected none, low or hls-gmac")
        fields["auth"] = DlmsAuth(auth)
    if "cipher" in options:
        fields["cipher"] = _bool(options, "cipher")
    if "timeout" in options:
        fields["timeout_s"] = _float(options, "timeout")
        fields["connect_timeout_s"] = fields["timeout_s"]
    if options:
        raise ValueError(f"unknown option(s) {', '.join(sorted(options))}; {USAGE}")
    fields.update(secrets_from_env(environ))
    return build_settings(fields)


def secrets_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Password, keys and system title from the environment (only those that are set)."""
    found: dict[str, Any] = {}
    if password := environ.get(ENV_PASSWORD):
        found["password"] = SecretBytes(password.encode())
    for variable, field, size in (
        (ENV_AUTH_KEY, "auth_key", 16),
        (ENV_BLOCK_KEY, "block_key", 16),
        (ENV_SYSTEM_TITLE, "system_title", 8),
    ):
        if text := environ.get(variable):
            raw = _hex(variable, text, size)
            found[field] = raw if field == "system_title" else SecretBytes(raw)
    return found


def build_settings(fields: Mapping[str, Any]) -> DlmsSettings:
    """Validate into DlmsSettings; a failure names the field and the reason, never the value."""
    try:
        return DlmsSettings.model_validate(dict(fields))
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
        if "needs a password" in message:
            problems[-1] += f" (set {ENV_PASSWORD})"
        elif "needs" in message:
            problems[-1] += f" (set {ENV_SYSTEM_TITLE}, {ENV_AUTH_KEY}, {ENV_BLOCK_KEY})"
    return "; ".join(problems)


def _tcp_link(host: str | None, parts: Any) -> TcpLink:
    if not host:
        raise ValueError(f"URL needs a host; {USAGE}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"port is not a number in 1..65535; {USAGE}") from None
    if port is None:
        raise ValueError(f"URL needs a port (HOST:PORT); {USAGE}")
    if parts.path not in ("", "/"):
        raise ValueError(f"unexpected path {parts.path!r} in a TCP URL; {USAGE}")
    return TcpLink(host=host, port=port)


def _options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        key = name.lower().replace("-", "_")
        if key in _SECRET_OPTIONS:
            raise ValueError(
                f"option {name!r} would put a secret in the URL; set {ENV_PASSWORD}, "
                f"{ENV_AUTH_KEY} or {ENV_BLOCK_KEY} in the environment instead"
            )
        if key in options:
            raise ValueError(f"option {name!r} given twice")
        options[key] = value
    return options


def _int(options: dict[str, str], name: str) -> int:
    text = options.pop(name)
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"option {name}={text!r} is not an integer") from None


def _float(options: dict[str, str], name: str) -> float:
    text = options.pop(name)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"option {name}={text!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"option {name}={text!r} must be positive")
    return value


def _bool(options: dict[str, str], name: str) -> bool:
    text = options.pop(name).lower()
    if text in _TRUE or text == "":
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"option {name}={text!r}: expected true or false")


def _hex(variable: str, text: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{variable} is not hexadecimal") from None
    if len(raw) != size:
        raise ValueError(f"{variable} must be {size} bytes ({2 * size} hex digits), got {len(raw)}")
    return raw

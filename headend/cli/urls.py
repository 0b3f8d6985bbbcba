"""Command-line options merged into a device URL's query (`headend read URL --auth low ...`).

The URL is rebuilt by replacing only its query: everything before the `?` is kept as typed, so
`dlms+serial:///dev/ttyUSB0` keeps its empty host (urllib's `urlunsplit` would drop the `//` and
the scheme would no longer parse). An option that does not exist for the URL's protocol (`--auth`
on a Modbus URL) is a usage error naming the option and the protocol, not a silent no-op.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from drivers.registry import DRIVERS, redact_url
from headend.cli.usage import UsageError

ALL_PROTOCOLS = frozenset(entry.protocol for entry in DRIVERS)
PROTOCOL_NAMES = {"dlms": "DLMS", "modbus": "Modbus", "dlt645": "DL/T 645"}


@dataclass(frozen=True, slots=True)
class Override:
    """One command-line option that overrides a URL query option."""

    dest: str  # argparse destination
    flag: str  # as typed
    query: str  # the URL query key it sets
    protocols: frozenset[str]


OVERRIDES: tuple[Override, ...] = (
    Override("client_address", "--client-address", "client", frozenset({"dlms"})),
    Override("server_address", "--server-address", "server", frozenset({"dlms"})),
    Override("server_physical", "--server-physical", "physical", frozenset({"dlms"})),
    Override("auth", "--auth", "auth", frozenset({"dlms"})),
    Override("cipher", "--cipher", "cipher", frozenset({"dlms"})),
    Override("timeout", "--timeout", "timeout", ALL_PROTOCOLS),
)


def protocol_of(url: str) -> str | None:
    """The protocol a URL's scheme belongs to, or None for an unknown scheme."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return next((e.protocol for e in DRIVERS if scheme in e.schemes), None)


def given_overrides(args: argparse.Namespace) -> dict[Override, str]:
    """The overriding options given on the command line, with their query text."""
    given: dict[Override, str] = {}
    for option in OVERRIDES:
        value = getattr(args, option.dest, None)
        if value is None or value is False:  # --cipher is a flag: absent means "as the URL says"
            continue
        given[option] = "true" if value is True else str(value)
    return given


def url_with_options(url: str, args: argparse.Namespace) -> str:
    """The URL with the command-line options merged into its query (options win).

    Raises UsageError for an option the URL's protocol does not have. An unknown scheme is left
    for `parse_device_url` to report (it lists the supported ones).
    """
    given = given_overrides(args)
    if not given:
        return url
    protocol = protocol_of(url)
    if protocol is not None:
        foreign = [option for option in given if protocol not in option.protocols]
        if foreign:
            flags = ", ".join(option.flag for option in foreign)
            applies = " and ".join(
                sorted({PROTOCOL_NAMES.get(p, p) for o in foreign for p in o.protocols})
            )
            verb = "applies" if len(foreign) == 1 else "apply"
            raise UsageError(
                f"{flags} {verb} to {applies} URLs only, not to the "
                f"{PROTOCOL_NAMES.get(protocol, protocol)} URL {redact_url(url)}"
            )
    base, _, query = url.partition("?")
    keys = {option.query for option in given}
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in keys]
    merged = kept + [(option.query, text) for option, text in given.items()]
    return f"{base}?{urlencode(merged)}"

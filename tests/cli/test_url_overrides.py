"""Every device URL scheme with every command-line override of `headend read`.

The rebuilt URL must parse (through the driver registry, as `headend read` does) to the same link
with the override applied; an option a protocol does not have is a usage error naming both.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from drivers.dlms.settings import DlmsAuth
from drivers.registry import AnySettings, DeviceUrlError, parse_device_url, supported_schemes
from headend.cli.main import build_parser
from headend.cli.urls import url_with_options
from headend.cli.usage import UsageError

ENV = {
    # "12345678" is both an LLS password (DLMS) and 8 hex digits (the DL/T 645 relay password)
    "HEADEND_PASSWORD": "12345678",
    "HEADEND_AUTH_KEY": "000102030405060708090a0b0c0d0e0f",
    "HEADEND_BLOCK_KEY": "101112131415161718191a1b1c1d1e1f",
    "HEADEND_SYSTEM_TITLE": "4845414445303031",
}

# The URL forms of README.md ("CLI") and of `headend read --help`, one or more per scheme.
URLS = {
    "dlms+tcp": ["dlms+tcp://10.0.0.7:4059"],
    "dlms+hdlc+tcp": ["dlms+hdlc+tcp://dc1:4060?physical=17", "dlms+hdlc+tcp://dc1:4060"],
    "dlms+serial": ["dlms+serial:///dev/ttyUSB0?baud=9600", "dlms+serial:///dev/ttyUSB0"],
    "modbus+tcp": ["modbus+tcp://10.0.0.8:502?unit=1&model=dtsu666"],
    "modbus+rtu": ["modbus+rtu:///dev/ttyUSB0?baud=9600&parity=N&unit=1&model=sdm630"],
    "modbus+rtutcp": ["modbus+rtutcp://gw1:4001?unit=3&model=sdm120"],
    "dlt645+serial": ["dlt645+serial:///dev/ttyUSB1?baud=2400&address=123456789012"],
    "dlt645+tcp": ["dlt645+tcp://conv1:8899?address=123456789012"],
}
ALL_URLS = [url for urls in URLS.values() for url in urls] + [
    "dlms+hdlc+tcp://dc1:4060?physical=17&auth=low",
    "dlms+serial:///dev/ttyUSB0?baud=19200&auth=hls-gmac&cipher=1",
]

Check = Callable[[Any], bool]

# (command-line options, check on the parsed settings, protocols that have the options)
DLMS_ONLY: list[tuple[list[str], Check]] = [
    (["--client-address", "0x20"], lambda s: s.effective_client_address == 32),
    (["--server-address", "5"], lambda s: s.server_logical == 5),
    (["--server-physical", "18"], lambda s: s.server_physical == 18),
    (["--auth", "none"], lambda s: s.auth is DlmsAuth.NONE and s.effective_client_address == 16),
    (["--auth", "low"], lambda s: s.auth is DlmsAuth.LOW and s.effective_client_address == 17),
    (
        ["--auth", "hls-gmac"],
        lambda s: s.auth is DlmsAuth.HLS_GMAC and s.effective_client_address == 1,
    ),
    (["--cipher"], lambda s: s.cipher is True),
    (
        # what a user of a ciphered meter behind a concentrator types
        ["--auth", "hls-gmac", "--cipher", "--client-address", "1", "--server-physical", "17"],
        lambda s: s.auth is DlmsAuth.HLS_GMAC and s.cipher and s.server_physical == 17,
    ),
    (
        ["--auth", "low", "--server-address", "1", "--server-physical", "0x11", "--timeout", "3"],
        lambda s: s.auth is DlmsAuth.LOW and s.server_physical == 17 and s.timeout_s == 3.0,
    ),
]
EVERY_PROTOCOL: list[tuple[list[str], Check]] = [
    (["--timeout", "2.5"], lambda s: s.timeout_s == 2.5),
    (["--timeout", "7"], lambda s: s.timeout_s == 7.0),
]


def read_args(url: str, options: list[str]) -> argparse.Namespace:
    """The namespace `headend read URL OPTIONS` gets from the real parser."""
    return build_parser().parse_args(["read", url, *options])


def parse(url: str) -> AnySettings:
    return parse_device_url(url, env=ENV)


def test_every_scheme_has_a_url_form() -> None:
    assert sorted(URLS) == sorted(supported_schemes())


def test_no_override_keeps_the_url_as_typed() -> None:
    for url in ALL_URLS:
        assert url_with_options(url, read_args(url, [])) == url


def _cases(protocols: set[str]) -> list[Any]:
    cases = []
    for url in ALL_URLS:
        dlms = url.startswith("dlms+")
        for options, check in DLMS_ONLY + EVERY_PROTOCOL:
            applies = dlms or (options, check) in EVERY_PROTOCOL
            if applies == ("applies" in protocols):
                cases.append(pytest.param(url, options, check, id=f"{url} {' '.join(options)}"))
    return cases


@pytest.mark.parametrize(("url", "options", "check"), _cases({"applies"}))
def test_override_applies(url: str, options: list[str], check: Check) -> None:
    rebuilt = url_with_options(url, read_args(url, options))
    # everything before the query is kept byte for byte (a serial URL keeps its "//")
    assert rebuilt.split("?", 1)[0] == url.split("?", 1)[0]
    settings = parse(rebuilt)
    assert check(settings), rebuilt
    assert settings.link == parse(url).link
    assert settings.protocol == parse(url).protocol


@pytest.mark.parametrize(("url", "options", "check"), _cases(set()))
def test_option_of_another_protocol_is_a_usage_error(
    url: str, options: list[str], check: Check
) -> None:
    with pytest.raises(UsageError) as info:
        url_with_options(url, read_args(url, options))
    text = str(info.value)
    flags = [o for o in options if o.startswith("--") and o != "--timeout"]
    assert all(flag in text for flag in flags) and "DLMS URLs only" in text
    assert ("Modbus" if url.startswith("modbus") else "DL/T 645") in text


def test_override_replaces_the_query_value_once() -> None:
    url = "dlms+hdlc+tcp://dc1:4060?physical=17&auth=low&timeout=9"
    rebuilt = url_with_options(url, read_args(url, ["--server-physical", "18", "--timeout", "1"]))
    assert rebuilt.count("physical=") == 1 and rebuilt.count("timeout=") == 1
    settings = parse(rebuilt)
    assert settings.protocol == "dlms"
    assert settings.server_physical == 18 and settings.timeout_s == 1.0
    assert settings.auth is DlmsAuth.LOW  # untouched query options stay


def test_unknown_scheme_with_an_override_names_the_scheme() -> None:
    url = "ftp://meter:21"
    rebuilt = url_with_options(url, read_args(url, ["--auth", "low"]))
    with pytest.raises(DeviceUrlError) as info:
        parse(rebuilt)
    assert "unknown scheme 'ftp'" in str(info.value)

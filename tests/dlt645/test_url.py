"""`parse_url` for the CLI: URL forms, defaults, precise errors, no secrets in messages."""

from __future__ import annotations

import pytest

from drivers.dlt645 import parse_url
from drivers.transport.settings import SerialLink, TcpLink


def test_serial_url_defaults_to_2400_8e1() -> None:
    s = parse_url("dlt645+serial:///dev/ttyUSB0?address=123456789012")
    assert s.protocol == "dlt645" and s.address == "123456789012"
    assert s.link == SerialLink(device="/dev/ttyUSB0", baud=2400, parity="E")
    assert s.preamble and s.password is None


def test_serial_url_with_options() -> None:
    s = parse_url(
        "dlt645+serial:///dev/pts/7?baud=9600&parity=N&address=000000000001&timeout=1.5&preamble=0",
        env={"HEADEND_PASSWORD": "02123456", "HEADEND_OPERATOR": "00000001"},
    )
    assert s.link == SerialLink(device="/dev/pts/7", baud=9600, parity="N")
    assert s.timeout_s == 1.5 and not s.preamble
    assert s.password is not None and s.password.get_secret_value() == bytes.fromhex("02123456")
    assert "123456" not in repr(s) and "123456" not in str(s)


def test_tcp_url() -> None:
    s = parse_url("dlt645+tcp://10.0.0.5:8899?address=AAAAAAAAAAAA")
    assert s.link == TcpLink(host="10.0.0.5", port=8899) and s.address == "AAAAAAAAAAAA"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("modbus+tcp://h:1?unit=1", "not a DL/T 645 URL"),
        ("dlt645+tcp://h:1", "needs address"),
        ("dlt645+tcp://h?address=123456789012", "HOST:PORT"),
        ("dlt645+tcp://h:1?address=12345", "12 digits"),
        ("dlt645+tcp://h:1?address=123456789012&colour=red", "unknown"),
        ("dlt645+serial:///dev/x?address=123456789012&parity=Q", "parity"),
        ("dlt645+tcp://h:1?address=123456789012&timezone=Mars/Base", "time zone"),
    ],
)
def test_bad_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_url(url)


def test_bad_password_is_not_echoed() -> None:
    with pytest.raises(ValueError) as info:
        parse_url("dlt645+tcp://h:1?address=123456789012", env={"HEADEND_PASSWORD": "0212345"})
    assert "0212345" not in str(info.value)
    assert "HEADEND_PASSWORD" in str(info.value)


@pytest.mark.parametrize("key", ["password", "operator"])
def test_secrets_in_a_url_are_refused_without_echo(key: str) -> None:
    with pytest.raises(ValueError, match="environment") as info:
        parse_url(f"dlt645+tcp://h:1?address=123456789012&{key}=02123456", env={})
    assert "02123456" not in str(info.value)

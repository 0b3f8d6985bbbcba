"""Device URLs and the driver registry: every form, CLI defaults, secrets only from the env."""

from __future__ import annotations

import pytest

from drivers.dlms.settings import DlmsAuth, DlmsFraming
from drivers.registry import DeviceUrlError, default_points, parse_device_url
from drivers.transport.settings import SerialLink, TcpLink

AUTH = "000102030405060708090a0b0c0d0e0f"
BLOCK = "101112131415161718191a1b1c1d1e1f"


def test_wrapper_url_defaults():
    s = parse_device_url("dlms+tcp://10.0.0.7:4059", env={})
    assert s.framing is DlmsFraming.WRAPPER and s.link == TcpLink(host="10.0.0.7", port=4059)
    assert s.auth is DlmsAuth.NONE and s.effective_client_address == 16 and s.server_logical == 1
    assert len(default_points(s)) > 5


def test_hdlc_tcp_with_addresses_and_lls_from_env():
    s = parse_device_url(
        "dlms+hdlc+tcp://dc1:4060?physical=17&server=1&auth=low&timeout=2.5",
        env={"HEADEND_PASSWORD": "pw"},
    )
    assert s.framing is DlmsFraming.HDLC and s.server_physical == 17
    assert s.effective_client_address == 17 and s.timeout_s == 2.5
    assert s.password is not None and s.password.get_secret_value() == b"pw"


def test_serial_url_and_hls_from_env():
    env = {
        "HEADEND_AUTH_KEY": AUTH,
        "HEADEND_BLOCK_KEY": BLOCK,
        "HEADEND_SYSTEM_TITLE": "4845414445303031",
    }
    s = parse_device_url("dlms+serial:///dev/ttyUSB0?baud=19200&auth=hls-gmac&cipher=1", env=env)
    assert s.link == SerialLink(device="/dev/ttyUSB0", baud=19200)
    assert s.cipher and s.effective_client_address == 1
    assert s.auth_key is not None and AUTH not in repr(s)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://x:1", "unknown scheme 'ftp'"),
        ("dlms+tcp://host", "needs a port"),
        ("dlms+tcp://host:99999", "port"),
        ("dlms+tcp://host:1?client=abc", "client='abc' is not an integer"),
        ("dlms+tcp://host:1?colour=red", "unknown option(s) colour"),
        ("dlms+tcp://host:1?auth=medium", "auth='medium'"),
        ("dlms+tcp://host:1?auth=low", "HEADEND_PASSWORD"),
        ("dlms+tcp://host:1?auth=hls-gmac", "HEADEND_AUTH_KEY"),
        ("dlms+serial://?baud=9600", "device path"),
    ],
)
def test_bad_urls_say_why(url, needle):
    with pytest.raises(DeviceUrlError) as info:
        parse_device_url(url, env={})
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["dlms+tcp://user:hunter2@host:1", "dlms+tcp://host:1?password=hunter2"],
)
def test_secrets_in_urls_are_refused_and_not_echoed(url):
    with pytest.raises(DeviceUrlError) as info:
        parse_device_url(url, env={})
    assert "hunter2" not in str(info.value)
    assert "environment" in str(info.value)


def test_bad_key_in_environment_is_not_echoed():
    with pytest.raises(DeviceUrlError) as info:
        parse_device_url("dlms+tcp://h:1", env={"HEADEND_AUTH_KEY": "abcd-secret"})
    assert "HEADEND_AUTH_KEY" in str(info.value) and "abcd-secret" not in str(info.value)


def test_other_protocols_share_the_registry():
    modbus = parse_device_url("modbus+tcp://127.0.0.1:502?unit=3&model=sdm630")
    assert modbus.protocol == "modbus"
    assert default_points(modbus)
    dlt = parse_device_url("dlt645+tcp://127.0.0.1:8001?address=123456789012")
    assert dlt.protocol == "dlt645"


def test_dlt645_default_points_are_the_whole_table():
    from drivers.dlt645 import default_points as table_points
    from drivers.registry import supported_obis

    s = parse_device_url("dlt645+tcp://10.0.0.9:8899?address=123456789012", env={})
    assert [p.obis for p in default_points(s)] == [p.obis for p in table_points()]
    supported = supported_obis(s)
    assert supported is not None and "1.0.99.2.0.255" in supported
    assert "1.0.99.1.0.255" not in supported


def test_supported_obis_per_protocol():
    from drivers.modbus import map_points
    from drivers.registry import supported_obis

    modbus = parse_device_url("modbus+tcp://10.0.0.9?unit=1&model=sdm120", env={})
    assert supported_obis(modbus) == {p.obis for p in map_points("sdm120")}
    dlms = parse_device_url("dlms+tcp://10.0.0.7:4059", env={})
    assert supported_obis(dlms) is None  # only the meter knows its objects


def test_bad_model_message_names_the_url_once():
    url = "modbus+tcp://10.0.0.9:502?unit=1&model=nosuch"
    with pytest.raises(DeviceUrlError) as info:
        parse_device_url(url, env={})
    text = str(info.value)
    assert text.count(url) == 1 and "Value error" not in text
    assert text.endswith("known models: dtsu666, hes-limiter, sdm120, sdm630")

"""Fleet configuration: precise errors (file, key path, reason), key references, settings."""

from __future__ import annotations

import textwrap

import pytest

from drivers.dlms.settings import DlmsAuth, DlmsFraming
from drivers.transport.settings import TcpLink
from headend.config import ConfigError, load_config, meter_settings

AUTH_HEX = "000102030405060708090a0b0c0d0e0f"
BLOCK_HEX = "101112131415161718191a1b1c1d1e1f"

FLEET = """
[site]
name = "test"
system_title = "4845414445303031"
keys_file = "keys.toml"

[[channels]]
id = "gprs"
host = "127.0.0.1"
port = 4059
max_connections = 4

[[channels]]
id = "dc"
host = "127.0.0.1"
port = 4060

[[channels]]
id = "rs485"
kind = "serial"
device = "/dev/ttyUSB0"

[[meters]]
id = "w1"
protocol = "dlms"
channel = "gprs"

[[meters]]
id = "w2"
protocol = "dlms"
channel = "gprs"
auth = "low"
key = "lls"

[[meters]]
id = "h1"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 17
auth = "hls-gmac"
cipher = true
key = "hls"

[[meters]]
id = "s1"
protocol = "dlms"
channel = "rs485"

[[plans]]
name = "registers"
points = ["1-0:1.8.0*255", "1.0.2.8.0"]
schedule = "daily 00:05"

[[plans]]
name = "profile"
profile = "1.0.99.1.0.255"
profile_window = "PT6H"
"""

KEYS = f"""
[keys.lls]
password = "secret-lls-pw"

[keys.hls]
auth_key = "{AUTH_HEX}"
block_key = "{BLOCK_HEX}"
"""


def write(tmp_path, fleet: str = FLEET, keys: str | None = KEYS):
    path = tmp_path / "fleet.toml"
    path.write_text(textwrap.dedent(fleet))
    if keys is not None:
        (tmp_path / "keys.toml").write_text(keys)
    return path


def test_valid_fleet_builds_driver_settings(tmp_path):
    config = load_config(write(tmp_path), env={})
    fleet = config.fleet
    assert [m.id for m in fleet.meters] == ["w1", "w2", "h1", "s1"]
    assert fleet.plan("registers").points == ["1.0.1.8.0.255", "1.0.2.8.0.255"]
    assert fleet.plan("profile").profile_window.total_seconds() == 6 * 3600
    assert fleet.concurrency("gprs") == 4
    assert fleet.concurrency("dc") == 1  # HDLC concentrator: half-duplex
    assert fleet.concurrency("rs485") == 1

    w1 = meter_settings(config, "w1")
    assert w1.framing is DlmsFraming.WRAPPER and w1.effective_client_address == 16
    assert w1.link == TcpLink(host="127.0.0.1", port=4059)
    w2 = meter_settings(config, "w2")
    assert w2.auth is DlmsAuth.LOW and w2.password is not None
    assert w2.password.get_secret_value() == b"secret-lls-pw"
    h1 = meter_settings(config, "h1")
    assert h1.framing is DlmsFraming.HDLC and h1.server_physical == 17
    assert h1.system_title == bytes.fromhex("4845414445303031")
    assert h1.auth_key is not None and h1.auth_key.get_secret_value().hex() == AUTH_HEX
    assert meter_settings(config, "s1").framing is DlmsFraming.HDLC  # default on serial
    assert "secret-lls-pw" not in repr(w2) and AUTH_HEX not in repr(h1)


def test_environment_overrides_key_file(tmp_path):
    env = {"HEADEND_KEY_LLS_PASSWORD": "from-env", "HEADEND_KEY_HLS_AUTH": "ff" * 16}
    config = load_config(write(tmp_path), env=env)
    w2 = meter_settings(config, "w2")
    assert w2.password is not None and w2.password.get_secret_value() == b"from-env"
    h1 = meter_settings(config, "h1")
    assert h1.auth_key is not None and h1.auth_key.get_secret_value() == b"\xff" * 16
    assert h1.block_key is not None and h1.block_key.get_secret_value().hex() == BLOCK_HEX


def test_environment_alone_can_provide_keys(tmp_path):
    env = {
        "HEADEND_KEY_LLS_PASSWORD": "pw",
        "HEADEND_KEY_HLS_AUTH": AUTH_HEX,
        "HEADEND_KEY_HLS_BLOCK": BLOCK_HEX,
    }
    fleet = FLEET.replace('keys_file = "keys.toml"\n', "")
    config = load_config(write(tmp_path, fleet, keys=None), env=env)
    assert meter_settings(config, "h1").cipher


def error_of(tmp_path, fleet: str = FLEET, keys: str | None = KEYS, env=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, fleet, keys), env=env or {})
    return info.value


def test_bad_field_names_file_key_path_and_reason(tmp_path):
    bad = FLEET.replace('auth = "low"', 'auth = "medium"')
    error = error_of(tmp_path, bad)
    text = str(error)
    assert str(tmp_path / "fleet.toml") in text
    assert "meters[1].auth" in text
    assert "'none', 'low' or 'hls-gmac'" in text
    assert "meter 'w2'" in text


def test_unknown_protocol_and_missing_channel(tmp_path):
    bad = FLEET.replace(
        'protocol = "dlms"\nchannel = "rs485"', 'protocol = "iec1107"\nchannel = "x"'
    )
    assert "meters[3].protocol" in str(error_of(tmp_path, bad))
    bad = FLEET.replace('channel = "rs485"', 'channel = "nowhere"')
    error = error_of(tmp_path, bad)
    assert [p.path for p in error.problems] == ["meters[3].channel"]
    assert "no channel 'nowhere'" in str(error)


def test_several_problems_are_all_reported(tmp_path):
    bad = FLEET.replace("port = 4060", "port = 99999").replace('"1.0.2.8.0"', '"1.0.2.8"')
    error = error_of(tmp_path, bad)
    paths = {p.path for p in error.problems}
    assert paths == {"channels[1].port", "plans[0].points[1]"}


def test_duplicate_ids(tmp_path):
    bad = FLEET.replace('id = "s1"', 'id = "w1"')
    assert "meters[3].id: duplicate id 'w1'" in str(error_of(tmp_path, bad))


def test_missing_key_reference_names_reference_not_keys(tmp_path):
    bad = FLEET.replace('key = "hls"', 'key = "hls-7"')
    error = error_of(tmp_path, bad)
    text = str(error)
    assert "meters[2].key" in text and "'hls-7'" in text and "HEADEND_KEY_HLS_7_*" in text
    for secret in ("secret-lls-pw", AUTH_HEX, BLOCK_HEX):
        assert secret not in text


def test_key_reference_without_needed_part(tmp_path):
    error = error_of(
        tmp_path, keys='[keys.lls]\npassword = "x"\n[keys.hls]\nauth_key = "' + AUTH_HEX + '"\n'
    )
    assert "meters[2].key: key reference 'hls' has no block_key" in str(error)


def test_malformed_key_material_is_not_echoed(tmp_path):
    wrong = "00112233445566778899aabbccddeeff00"  # 17 bytes
    error = error_of(tmp_path, keys=KEYS.replace(AUTH_HEX, wrong))
    assert str(tmp_path / "keys.toml") in str(error)
    assert "keys.hls.auth_key" in str(error) and "16 bytes" in str(error)
    assert wrong not in str(error)
    error = error_of(tmp_path, env={"HEADEND_KEY_HLS_BLOCK": "zz-not-hex-secretish"})
    assert "HEADEND_KEY_HLS_BLOCK" in str(error)
    assert "zz-not-hex-secretish" not in str(error)


def test_secret_in_fleet_file_is_refused_without_echo(tmp_path):
    bad = FLEET.replace('key = "lls"', 'password = "hunter2"')
    error = error_of(tmp_path, bad)
    text = str(error)
    assert "meters[1].password" in text and "key reference" in text
    assert "hunter2" not in text


def test_auth_without_key_reference(tmp_path):
    bad = FLEET.replace('key = "lls"\n', "")
    assert "meters[1].key: auth 'low' needs a key reference" in str(error_of(tmp_path, bad))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_config(tmp_path / "nope.toml", env={})
    error = error_of(tmp_path, FLEET + "\n[[meters]\n")
    assert "not valid TOML" in str(error) and "line" in str(error)
    (tmp_path / "fresh").mkdir()
    error = error_of(tmp_path / "fresh", keys=None)
    assert "keys.toml: no such file" in str(error)


def test_unknown_meter_for_settings(tmp_path):
    config = load_config(write(tmp_path), env={})
    with pytest.raises(ConfigError, match="no meter 'zz'"):
        meter_settings(config, "zz")


def test_modbus_and_dlt645_meters_build_their_settings(tmp_path):
    extra = """
[[meters]]
id = "mb1"
protocol = "modbus"
channel = "rs485"
unit_id = 7
model = "sdm630"

[[meters]]
id = "cn1"
protocol = "dlt645"
channel = "gprs"
address = "123456789012"
"""
    config = load_config(write(tmp_path, FLEET + extra), env={})
    modbus = meter_settings(config, "mb1")
    assert modbus.protocol == "modbus" and modbus.unit == 7 and modbus.framing.value == "rtu"
    dlt = meter_settings(config, "cn1")
    assert dlt.protocol == "dlt645" and dlt.address == "123456789012"
    bad = FLEET + extra.replace('model = "sdm630"', 'model = "nosuch"')
    text = str(error_of(tmp_path, bad))
    assert "meters[4].model" in text
    assert "no register map for model 'nosuch'" in text
    assert "known models: dtsu666, hes-limiter, sdm120, sdm630" in text

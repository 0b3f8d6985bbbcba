"""The [sinks] section: defaults, secrets only from the environment, errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.config.errors import ConfigError
from headend.config.loader import load_config
from headend.config.sinks import INFLUXDB_TOKEN_ENV, MQTT_PASSWORD_ENV, InfluxSink, MqttSink

FLEET = """
[site]
name = "north"

[sinks.mqtt]
host = "broker.example"
username = "headend"
{mqtt_extra}

[sinks.influxdb]
url = "http://influx.example:8086"
org = "utility"
bucket = "metering"
{influx_extra}
"""


def write(tmp_path: Path, mqtt_extra: str = "", influx_extra: str = "") -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(mqtt_extra=mqtt_extra, influx_extra=influx_extra))
    return path


def test_sinks_load_with_defaults(tmp_path: Path):
    sinks = load_config(write(tmp_path), env={}).fleet.sinks
    assert sinks is not None and sinks.mqtt is not None and sinks.influxdb is not None
    assert sinks.mqtt.port == 1883
    assert sinks.mqtt.readings_per_message == 200
    assert sinks.mqtt.prefix("north") == "headend/north"
    assert sinks.names() == ["mqtt", "influxdb"]
    custom = load_config(write(tmp_path, mqtt_extra='topic_prefix = "utility/a/"'), env={})
    assert custom.fleet.sinks is not None and custom.fleet.sinks.mqtt is not None
    assert custom.fleet.sinks.mqtt.prefix("north") == "utility/a"


def test_a_secret_in_the_file_is_an_error_naming_the_variable(tmp_path: Path):
    path = write(tmp_path, 'password = "hunter22"', 'token = "tok-123456"')
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    text = str(error.value)
    assert "sinks.mqtt: 'password' does not belong in the fleet file; set the " in text
    assert MQTT_PASSWORD_ENV in text
    assert "sinks.influxdb: 'token'" in text and INFLUXDB_TOKEN_ENV in text
    assert "hunter22" not in text and "tok-123456" not in text


def test_secrets_come_from_the_environment_and_stay_hidden():
    password = MqttSink.password({MQTT_PASSWORD_ENV: "s3cret"})
    assert password is not None and password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(password)
    assert MqttSink.password({}) is None
    token = InfluxSink.token({INFLUXDB_TOKEN_ENV: "t0ken"})
    assert token is not None and token.get_secret_value() == "t0ken"


def test_a_wildcard_in_the_prefix_is_refused():
    with pytest.raises(ValueError, match="topic_prefix"):
        MqttSink(host="h", topic_prefix="headend/#")


@pytest.mark.parametrize("value", [1, 10_000])
def test_readings_per_message_accepts_1_to_10000(tmp_path: Path, value: int):
    path = write(tmp_path, mqtt_extra=f"readings_per_message = {value}")
    sinks = load_config(path, env={}).fleet.sinks
    assert sinks is not None and sinks.mqtt is not None
    assert sinks.mqtt.readings_per_message == value


@pytest.mark.parametrize("value", [0, 10_001, -5])
def test_readings_per_message_out_of_bounds_is_a_config_error(tmp_path: Path, value: int):
    path = write(tmp_path, mqtt_extra=f"readings_per_message = {value}")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert "sinks.mqtt.readings_per_message" in str(error.value)

"""The `[sinks]` section of the fleet file: where the outbox forwards readings, events and runs.

```toml
[sinks.mqtt]
host = "broker.example"
port = 1883
username = "headend"          # password: environment HEADEND_MQTT_PASSWORD
topic_prefix = "headend/north" # default headend/<site>

[sinks.influxdb]
url = "http://influx.example:8086"
org = "utility"
bucket = "metering"           # token: environment HEADEND_INFLUXDB_TOKEN
```

Secrets come from the environment only: a `password` or `token` key in the file is a config
error that names the variable to use instead, and the value read from the environment is held
as a `SecretStr` so it never shows in a repr, a log line or an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MQTT_PASSWORD_ENV = "HEADEND_MQTT_PASSWORD"
INFLUXDB_TOKEN_ENV = "HEADEND_INFLUXDB_TOKEN"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _no_secret(data: Any, key: str, env: str) -> Any:
    # Checked before validation so the message says where the secret goes, rather than the
    # generic "extra inputs are not permitted".
    if isinstance(data, dict) and key in data:
        raise ValueError(
            f"{key!r} does not belong in the fleet file; set the environment variable {env}"
        )
    return data


class MqttSink(_Model):
    """An MQTT broker: readings, events and run summaries as JSON, QoS 1."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, description=f"password from {MQTT_PASSWORD_ENV}")
    topic_prefix: str | None = Field(
        default=None, description="default headend/<site>", min_length=1, pattern=r"^[^#+]+$"
    )
    client_id: str | None = Field(default=None, description="default headend-<site>-outbox")
    # Each batch ends with its last PUBACKs awaited and the cursor committed, time the broker and
    # the head-end spend waiting on each other: 5000 drains 10,000 meters x 8 readings ~35 %
    # faster than 2000 (batches of 10000 gained little more, and block the loop longer).
    batch: int = Field(default=5000, ge=1, le=100_000, description="entries per delivery")
    # Enough to cover the round trip to a remote broker at full rate, small enough that the
    # per-message bookkeeping of aiomqtt and paho (linear in what is in flight) stays cheap.
    max_inflight: int = Field(
        default=128, ge=1, le=10_000, description="publishes awaiting their PUBACK at once"
    )
    timeout_s: float = Field(default=30.0, gt=0, description="connect and PUBACK wait")
    # A publish costs the Python MQTT client ~130 us of CPU whatever its size, so one message per
    # reading caps the drain near 6,000 readings/s; a meter's readings grouped reach far more.
    readings_per_message: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="readings of one meter per message; 1: one plain reading object per message",
    )

    @model_validator(mode="before")
    @classmethod
    def _secret_in_file(cls, data: Any) -> Any:
        return _no_secret(data, "password", MQTT_PASSWORD_ENV)

    def prefix(self, site: str) -> str:
        return (self.topic_prefix or f"headend/{site}").rstrip("/")

    @staticmethod
    def password(env: Mapping[str, str] | None = None) -> SecretStr | None:
        value = (os.environ if env is None else env).get(MQTT_PASSWORD_ENV)
        return SecretStr(value) if value is not None else None


class InfluxSink(_Model):
    """An InfluxDB v2 write endpoint (or one speaking `/api/v2/write`, such as VictoriaMetrics)."""

    url: str = Field(pattern=r"^https?://", description="http(s)://host:port")
    org: str = Field(min_length=1)
    bucket: str = Field(min_length=1)
    batch: int = Field(default=5000, ge=1, le=100_000, description="points per write")
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _secret_in_file(cls, data: Any) -> Any:
        return _no_secret(data, "token", INFLUXDB_TOKEN_ENV)

    @staticmethod
    def token(env: Mapping[str, str] | None = None) -> SecretStr | None:
        value = (os.environ if env is None else env).get(INFLUXDB_TOKEN_ENV)
        return SecretStr(value) if value is not None else None


class Sinks(_Model):
    """The `[sinks]` section; a sink left out is not used (its outbox share is not kept)."""

    mqtt: MqttSink | None = None
    influxdb: InfluxSink | None = None

    def names(self) -> list[str]:
        """The outbox cursor names of the configured sinks."""
        return [name for name in ("mqtt", "influxdb") if getattr(self, name) is not None]

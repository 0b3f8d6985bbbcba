"""The InfluxDB sink: readings (and events, run summaries) as line protocol, written in batches
through influxdb-client's async write API (`/api/v2/write`, so VictoriaMetrics accepts it too).

A reading becomes one point:

    <family>,channel=<channel>,meter=<meter>,obis=<obis>,quality=<quality>,site=<site>[,unit=<unit>]
        value=<float> <capture time, else receive time, in ns>

`<family>` is the measurement of its quantity (`families.obis_family`: energy, power, voltage,
current, frequency, power_factor, other). Quality is a *tag*, so a query can keep only `ok`
values and so that stores without string fields (VictoriaMetrics) keep it. A value that is not a
finite number (a clock read, a status text) has no float and is not written here (MQTT carries it).
The channel comes from the fleet by meter id (left out for a meter no longer configured).

Events go to measurement `event` (tags meter, channel, site, origin, name; field `code`) at the
event's time; run summaries to `run` (tags plan, site, trigger; counts and duration as fields) at
the run's start. Writing a point again with the same tags and time overwrites it, so the batch a
failed delivery sends again leaves no duplicate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import SecretStr

from drivers.contract import Reading
from headend.config.fleet import Fleet
from headend.config.sinks import InfluxSink as InfluxConfig
from headend.events.model import Event
from headend.runs.model import RunStats
from headend.sinks.families import obis_family
from headend.sinks.sink import SinkUnavailable
from headend.store.base import OutboxEntry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = timedelta(microseconds=1)
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": " "})


def tag(text: str) -> str:
    """A tag key or value escaped for line protocol (also fine for a measurement name)."""
    return text.translate(_TAG_ESCAPES)


def nanoseconds(instant: datetime) -> int:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return ((instant - _EPOCH) // _NS) * 1000


class LineProtocol:
    """Turns outbox entries into lines; tag texts are escaped once per distinct value."""

    def __init__(self, site: str, channels: dict[str, str]) -> None:
        self._site = tag(site)
        self._channels = channels
        self._prefixes: dict[tuple[str, str, str, str | None], str] = {}
        self._times: dict[datetime, int] = {}

    def lines(self, entries: Sequence[OutboxEntry]) -> list[str]:
        out: list[str] = []
        for entry in entries:
            if entry.reading is not None:
                line = self.reading(entry.reading)
                if line is not None:
                    out.append(line)
            elif entry.event is not None:
                out.append(self.event(entry.event))
            elif entry.run is not None:
                out.append(self.run(entry.run))
        if len(self._prefixes) > 100_000 or len(self._times) > 100_000:
            self._prefixes.clear()  # bounded: a big fleet must not grow these forever
            self._times.clear()
        return out

    def reading(self, reading: Reading) -> str | None:
        value = reading.value
        if not isinstance(value, Decimal) or not value.is_finite():
            return None
        number = float(value)
        if not math.isfinite(number):
            return None
        key = (reading.meter_id, reading.obis, reading.quality.value, reading.unit)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = self._reading_prefix(*key)
        instant = reading.capture_time or reading.receive_time
        ns = self._times.get(instant)
        if ns is None:
            ns = self._times[instant] = nanoseconds(instant)
        return f"{prefix} value={number!r} {ns}"

    def _reading_prefix(self, meter: str, obis: str, quality: str, unit: str | None) -> str:
        parts: list[str] = [obis_family(obis)]
        channel = self._channels.get(meter)
        if channel is not None:
            parts.append(f"channel={tag(channel)}")
        parts += [f"meter={tag(meter)}", f"obis={tag(obis)}", f"quality={tag(quality)}"]
        parts.append(f"site={self._site}")
        if unit:
            parts.append(f"unit={tag(unit)}")
        return ",".join(parts)

    def event(self, event: Event) -> str:
        parts: list[str] = ["event"]
        if event.channel_id:
            parts.append(f"channel={tag(event.channel_id)}")
        if event.meter_id:
            parts.append(f"meter={tag(event.meter_id)}")
        parts += [f"name={tag(event.name)}", f"origin={tag(event.origin.value)}"]
        parts.append(f"site={self._site}")
        return f"{','.join(parts)} code={float(event.code)!r} {nanoseconds(event.time)}"

    def run(self, run: RunStats) -> str:
        fields = ",".join(
            f"{name}={float(getattr(run, name))!r}"
            for name in (
                "attempted",
                "ok",
                "partial",
                "failed",
                "readings",
                "stored",
                "rereads",
                "duration_s",
            )
        )
        tags = f"run,plan={tag(run.plan)},site={self._site},trigger={tag(run.trigger)}"
        return f"{tags} {fields} {nanoseconds(run.started_at)}"


class InfluxSink:
    """Writes outbox entries to one bucket; `deliver` returns once every write was accepted."""

    def __init__(
        self,
        config: InfluxConfig,
        *,
        fleet: Fleet,
        token: SecretStr | None = None,
        name: str = "influxdb",
    ) -> None:
        self._config = config
        self._token = token
        self._name = name
        channels = {meter.id: meter.channel for meter in fleet.meters}
        self._lines = LineProtocol(fleet.site.name, channels)
        self._client: InfluxDBClientAsync | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def batch_size(self) -> int:
        return self._config.batch

    def lines(self, entries: Sequence[OutboxEntry]) -> list[str]:
        return self._lines.lines(entries)

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        lines = self._lines.lines(entries)
        if not lines:
            return
        config = self._config
        if self._client is None:
            # Made here, inside the running loop: the client owns an aiohttp session.
            self._client = InfluxDBClientAsync(
                url=config.url,
                token=self._token.get_secret_value() if self._token else "",  # "": no header
                org=config.org,
                timeout=int(config.timeout_s * 1000),
            )
        write = self._client.write_api()
        step = config.batch
        try:
            for start in range(0, len(lines), step):
                body = "\n".join(lines[start : start + step])
                await write.write(
                    bucket=config.bucket,
                    org=config.org,
                    record=body,
                    write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str constant
                )
        except ApiException as exc:
            reason = f"HTTP {exc.status} {exc.reason or ''}".strip()
            if exc.status in (401, 403):
                reason += " (check HEADEND_INFLUXDB_TOKEN and the org/bucket permissions)"
            raise SinkUnavailable(self._name, f"{config.url}: write refused: {reason}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise SinkUnavailable(self._name, f"{config.url}: cannot write: {exc}") from None
        except TimeoutError:
            raise SinkUnavailable(
                self._name, f"{config.url}: write timed out after {config.timeout_s:g} s"
            ) from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]

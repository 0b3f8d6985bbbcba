"""The InfluxDB sink against a real VictoriaMetrics (it speaks influxdb-client's /api/v2/write)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Quality, Reading
from headend.config.sinks import InfluxSink as InfluxConfig
from headend.events.model import Event, EventOrigin
from headend.sinks.influxdb import InfluxSink
from headend.sinks.sink import SinkUnavailable
from headend.store.base import OutboxEntry
from tests.brokers import VictoriaMetrics
from tests.conftest import free_port
from tests.sinks.support import SITE, T0, energy, entries, fleet


def sink(url: str) -> InfluxSink:
    config = InfluxConfig(url=url, org="utility", bucket="metering", batch=2)
    return InfluxSink(config, fleet=fleet())


def ms(step: int) -> int:
    return int((T0 + timedelta(minutes=15 * step)).timestamp() * 1000)


async def test_readings_are_points_per_family_with_tags_and_capture_times(
    victoria: VictoriaMetrics,
):
    voltage = Reading(
        meter_id="m1",
        obis="1.0.32.7.0.255",
        value=Decimal("229.7"),
        unit="V",
        receive_time=T0 + timedelta(minutes=3),  # instantaneous: no capture time
        quality=Quality.CLOCK_SUSPECT,
    )
    clock = Reading(
        meter_id="m1", obis="0.0.1.0.0.255", value=T0, receive_time=T0 + timedelta(minutes=3)
    )
    readings = [energy("m1", 0), energy("m1", 1), energy("m2", 0), energy("m1", 2), voltage]
    items = [
        *entries([*readings, clock]),
        OutboxEntry(
            seq=7,
            kind="event",
            created_at=T0,
            event=Event(
                origin=EventOrigin.METER,
                meter_id="m2",
                code=1,
                name="power_failure",
                text="power failure",
                time=T0 + timedelta(minutes=7),
                received_at=T0 + timedelta(minutes=8),
            ),
        ),
    ]
    target = sink(victoria.url)
    await target.deliver(items)  # batch=2: several writes
    await target.close()

    series = {(s.name, s.labels.get("meter")): s for s in await asyncio.to_thread(victoria.export)}
    m1 = series[("energy_value", "m1")]
    assert m1.labels == {
        "meter": "m1",
        "site": SITE,
        "channel": "gw1",
        "obis": "1.0.1.8.0.255",
        "quality": "ok",
        "unit": "kWh",
    }
    assert m1.timestamps == [ms(0), ms(1), ms(2)]
    assert m1.values == [100.0, 100.1, 100.2]
    m2 = series[("energy_value", "m2")]
    assert m2.labels["channel"] == "gw0"
    assert (m2.values, m2.timestamps) == ([100.0], [ms(0)])
    volts = series[("voltage_value", "m1")]
    assert volts.labels["quality"] == "clock-suspect"
    assert (volts.values, volts.timestamps) == ([229.7], [ms(0) + 3 * 60_000])
    power_failure = series[("event_code", "m2")]
    assert power_failure.labels["name"] == "power_failure"
    assert (power_failure.values, power_failure.timestamps) == ([1.0], [ms(0) + 7 * 60_000])
    # the clock value has no float: not written (MQTT carries it)
    assert {name for name, _ in series} == {"energy_value", "voltage_value", "event_code"}


async def test_writing_a_batch_again_leaves_one_point_per_timestamp(victoria: VictoriaMetrics):
    target = sink(victoria.url)
    batch = entries([energy("m1", 0), energy("m1", 1)])
    await target.deliver(batch)
    await target.deliver(batch)  # what a retry after a lost ack does
    await target.close()
    [only] = await asyncio.to_thread(victoria.export)
    assert only.timestamps == [ms(0), ms(1)]


async def test_a_server_that_is_down_is_reported_and_the_batch_not_taken():
    port = free_port()
    target = sink(f"http://127.0.0.1:{port}")
    with pytest.raises(SinkUnavailable) as failure:
        await target.deliver(entries([energy("m1", 0)]))
    await target.close()
    assert failure.value.sink == "influxdb"
    assert f"127.0.0.1:{port}" in failure.value.reason
    assert "cannot write" in failure.value.reason

"""On-demand reads served by a running `headend run` (a subprocess, beside `headend simulate`):
over MQTT (`<prefix>/request/read` in, `<prefix>/request/read/result` out, matched by the
correlation id) and from `headend read --config FILE METER`, which goes through the service's
control socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from headend.config import load_config
from headend.config.fleet import DlmsMeter
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto
from tests.service.run_support import Simulator, headend, json_lines, running, write_run_config

SHAPE = [
    "--meters", "12",
    "--concentrators", "1", "--meters-per-concentrator", "4",
    "--modbus-gateways", "1", "--units-per-gateway", "2",
    "--dlt645-lines", "1", "--meters-per-line", "2",
    "--cipher-share", "0.5",
]  # fmt: skip
POINTS = ["1.0.1.8.0.255", "1.0.2.8.0.255"]
HANG_GUARD_S = 60.0


class Requester:
    """A client of the service's MQTT request topic: publishes requests, collects results."""

    def __init__(self, client: aiomqtt.Client, prefix: str) -> None:
        self.client = client
        self.request_topic = f"{prefix}/request/read"
        self.results: dict[str, dict[str, Any]] = {}
        self.arrived = asyncio.Event()

    async def listen(self) -> None:
        async for message in self.client.messages:
            result = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            self.results[result["correlation_id"]] = result
            self.arrived.set()

    async def ask(self, payload: bytes | str, correlation_id: str) -> dict[str, Any]:
        """Publish until answered: the service subscribes a moment after it starts, and a
        request published before that is not kept for it (a hang guard bounds the retries)."""
        async with asyncio.timeout(HANG_GUARD_S):
            while correlation_id not in self.results:
                await self.client.publish(self.request_topic, payload, qos=1)
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), 5.0)
        return self.results[correlation_id]


@pytest.fixture
async def requester(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[tuple[Requester, Path]]:
    async with Simulator(tmp_path, *SHAPE, factor=1, latency_ms=0) as sim:
        config = write_run_config(
            sim.path, tmp_path / "run.toml", mqtt_port=mosquitto.port, plans=()
        )
        site = load_config(config).fleet.site.name
        prefix = f"headend/{site}"
        async with (
            running(config, tmp_path / "run.log") as service,
            aiomqtt.Client(
                "127.0.0.1", mosquitto.port, username=MQTT_USER, password=MQTT_PASSWORD
            ) as client,
        ):
            await client.subscribe(f"{prefix}/request/read/result", qos=1)
            asker = Requester(client, prefix)
            listener = asyncio.create_task(asker.listen())
            try:
                yield asker, config
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                assert await service.stop() == 0
        assert "Traceback" not in service.log_text()


async def test_a_read_request_on_mqtt_is_answered_with_its_readings(
    requester: tuple[Requester, Path],
) -> None:
    asker, config = requester
    fleet = load_config(config).fleet
    ciphered = next(m.id for m in fleet.meters if isinstance(m, DlmsMeter) and m.cipher)
    meters = [ciphered, "dc01-0001", "dlt01-m1"]
    request = {"schema_version": 1, "correlation_id": "read-1", "meters": meters, "points": POINTS}
    result = await asker.ask(json.dumps(request), "read-1")
    assert result["ok"] is True, result
    assert result["error"] is None
    assert result["schema_version"] == 1
    assert {m["meter_id"]: m["status"] for m in result["meters"]} == dict.fromkeys(meters, "ok")
    got = {(r["meter"], r["obis"]) for r in result["readings"]}
    assert got == {(m, p) for m in meters for p in POINTS}
    assert all(r["value"] and r["quality"] == "ok" for r in result["readings"]), result


async def test_malformed_and_unknown_meter_requests_are_refused_with_the_reason(
    requester: tuple[Requester, Path],
) -> None:
    asker, _config = requester
    # answered first: the service is subscribed from here on
    empty = {"schema_version": 1, "correlation_id": "bad-empty", "meters": [], "points": POINTS}
    result = await asker.ask(json.dumps(empty), "bad-empty")
    assert result["ok"] is False and result["readings"] == []
    assert "meters" in result["error"], result

    version = {"schema_version": 2, "correlation_id": "bad-version", "meters": ["dc01-0001"]}
    result = await asker.ask(json.dumps(version), "bad-version")
    assert result["ok"] is False and "schema_version" in result["error"], result

    point = {"correlation_id": "bad-point", "meters": ["dc01-0001"], "points": ["1.0.1.8"]}
    result = await asker.ask(json.dumps(point), "bad-point")
    assert result["ok"] is False and "points" in result["error"], result

    unknown = {"correlation_id": "unknown-1", "meters": ["dc01-0001", "nowhere-42"]}
    result = await asker.ask(json.dumps(unknown), "unknown-1")
    assert result["ok"] is False and "nowhere-42" in result["error"], result
    assert "dc01-0001" not in result["error"]

    # not JSON at all: answered without a correlation id, and the intake keeps serving
    await asker.ask(b"{not json", "")
    assert asker.results[""]["ok"] is False
    after = {"correlation_id": "after-garbage", "meters": ["dc01-0002"], "points": POINTS[:1]}
    result = await asker.ask(json.dumps(after), "after-garbage")
    assert result["ok"] is True, result


async def test_headend_read_goes_through_the_running_service(
    requester: tuple[Requester, Path],
) -> None:
    _asker, config = requester
    status, out, err = await headend(
        "read", "--config", str(config), "dc01-0002", "--obis", POINTS[0], "--json"
    )
    assert status == 0, err
    assert "read by the running head-end service" in err
    rows = json_lines(out)
    assert [(r["meter"], r["obis"]) for r in rows] == [("dc01-0002", POINTS[0])]
    # the service stored what it read: the store shows it
    status, out, err = await headend(
        "readings", "--config", str(config), "--meter", "dc01-0002", "--obis", POINTS[0], "--json"
    )
    assert status == 0, err
    assert [r["value"] for r in json_lines(out)] == [rows[0]["value"]]

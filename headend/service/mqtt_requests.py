"""On-demand reads requested over MQTT: `<prefix>/request/read` in, `.../read/result` out.

A request is a `ReadRequest` as JSON (schema version, correlation id, meters, plan or points).
Each is served by the running service on the priority lane, concurrently with other requests; the
answer (`ReadResult`, QoS 1) carries the request's correlation id. A message that is not a valid
request is answered with `ok: false` and the reason (and the correlation id, when it had one), and
logged once; it never stops the intake. The broker connection is re-established with a backoff.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import aiomqtt
from pydantic import ValidationError

from headend.config.sinks import MqttSink as MqttConfig
from headend.service.mqtt_link import TopicIntake
from headend.service.requests import ReadRequest, ReadResult

LOG = logging.getLogger("headend.service")

ReadHandler = Callable[[ReadRequest], Awaitable[ReadResult]]


class MqttRequests:
    def __init__(
        self,
        config: MqttConfig,
        site: str,
        read: ReadHandler,
        *,
        password: str | None = None,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.config = config
        self.prefix = config.prefix(site)
        self.request_topic = f"{self.prefix}/request/read"
        self.result_topic = f"{self.prefix}/request/read/result"
        self._read = read
        self._intake = TopicIntake(
            config,
            self.request_topic,
            self._on_message,
            password=password,
            identifier=f"headend-{site}-requests",
            what="MQTT requests",
            log=LOG,
            backoff_max_s=backoff_max_s,
        )
        self.subscribed = self._intake.subscribed

    async def start(self) -> None:
        await self._intake.start()

    async def stop(self) -> None:
        await self._intake.stop()

    async def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        await self._serve(client, message.payload)

    async def _serve(self, client: aiomqtt.Client, payload: object) -> None:
        raw = payload if isinstance(payload, (bytes, bytearray, str)) else b""
        correlation_id = _correlation_of(raw)
        try:
            request = ReadRequest.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "request"
            why = f"{where}: {first['msg']}"
            LOG.warning("MQTT request %s refused: %s", correlation_id or "?", why)
            result = ReadResult(correlation_id=correlation_id or "", ok=False, error=why)
        else:
            try:
                result = await self._read(request)
            except Exception as exc:  # a failed request is answered, never silently dropped
                LOG.warning("MQTT request %s failed: %s", request.correlation_id, exc)
                result = ReadResult(correlation_id=request.correlation_id, ok=False, error=str(exc))
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(self.result_topic, result.model_dump_json(), qos=1)


def _correlation_of(raw: bytes | bytearray | str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("correlation_id"), str):
        value: str = data["correlation_id"][:128]
        return value
    return None

"""The MQTT sink: readings, events and run summaries published as JSON with QoS 1 (aiomqtt).

Topics under the prefix (`headend/<site>` unless configured):

* `<prefix>/meter/<meter>/reading`: a `ReadingMessage`
* `<prefix>/meter/<meter>/event`: an `EventMessage` of a meter; an event of a channel goes to
  `<prefix>/channel/<channel>/event`, one of the head-end itself to `<prefix>/headend/event`
* `<prefix>/run/<plan>`: a `RunMessage`

One connection is kept open between batches and opened again after any failure. A batch is
published in order on that connection and counts as delivered only when the broker has
acknowledged (PUBACK) every message of it; otherwise the whole batch is sent again later, so a
subscriber may see a message twice (it dedupes by the message `id`) but never misses one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aiomqtt
from pydantic import SecretStr

from headend.config.sinks import MqttSink as MqttConfig
from headend.events.model import Event
from headend.sinks.messages import EventMessage, ReadingMessage, RunMessage
from headend.sinks.sink import SinkUnavailable
from headend.store.base import OutboxEntry


class MqttSink:
    """Publishes outbox entries to one broker; `deliver` returns once all are acknowledged."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        site: str,
        password: SecretStr | None = None,
        name: str = "mqtt",
    ) -> None:
        self._config = config
        self._password = password
        self._prefix = config.prefix(site)
        self._client_id = config.client_id or f"headend-{site}-outbox"
        self._name = name
        self._client: aiomqtt.Client | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def batch_size(self) -> int:
        return self._config.batch

    @property
    def where(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    def topic(self, entry: OutboxEntry) -> str:
        if entry.reading is not None:
            return f"{self._prefix}/meter/{entry.reading.meter_id}/reading"
        if entry.event is not None:
            return self._event_topic(entry.event)
        if entry.run is not None:
            return f"{self._prefix}/run/{entry.run.plan}"
        raise ValueError(f"outbox entry {entry.seq} carries nothing")

    def _event_topic(self, event: Event) -> str:
        if event.meter_id is not None:
            return f"{self._prefix}/meter/{event.meter_id}/event"
        if event.channel_id is not None:
            return f"{self._prefix}/channel/{event.channel_id}/event"
        return f"{self._prefix}/headend/event"

    @staticmethod
    def payload(entry: OutboxEntry) -> bytes:
        if entry.reading is not None:
            return ReadingMessage.of(entry.reading).model_dump_json().encode()
        if entry.event is not None:
            return EventMessage.of(entry.event).model_dump_json().encode()
        if entry.run is not None:
            return RunMessage.of(entry.run).model_dump_json().encode()
        raise ValueError(f"outbox entry {entry.seq} carries nothing")

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        messages = [(self.topic(entry), self.payload(entry)) for entry in entries]
        client = await self._connected()
        timeout = self._config.timeout_s
        try:
            # Each publish hands its message to paho at once, in call order, then waits for its
            # PUBACK: the batch goes out pipelined on one connection, in outbox order.
            await asyncio.gather(
                *(client.publish(t, p, qos=1, timeout=timeout) for t, p in messages)
            )
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise SinkUnavailable(self._name, f"{self.where}: publish failed: {exc}") from None

    async def _connected(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        config = self._config
        client = aiomqtt.Client(
            config.host,
            config.port,
            username=config.username,
            password=self._password.get_secret_value() if self._password else None,
            identifier=self._client_id,
            timeout=config.timeout_s,
            # the whole batch in flight: PUBACK round trips overlap instead of queueing by 20
            max_inflight_messages=config.batch,
        )
        client.pending_calls_threshold = config.batch  # a whole batch pending is the plan

        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise SinkUnavailable(self._name, f"{self.where}: {_connect_reason(exc)}") from None
        self._client = client
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)

    async def close(self) -> None:
        await self._drop()


def _connect_reason(exc: aiomqtt.MqttError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "not authorized" in lowered or "bad user name or password" in lowered:
        return f"connection refused: wrong username or password ({text})"
    return f"cannot connect: {text}"

"""The MQTT sink: readings, events and run summaries published as JSON with QoS 1 (aiomqtt).

Topics under the prefix (`headend/<site>` unless configured):

* `<prefix>/meter/<meter>/reading`: a `ReadingsMessage` with up to `readings_per_message` of the
  meter's readings, or with `readings_per_message = 1` one plain `ReadingMessage`
* `<prefix>/meter/<meter>/event`: an `EventMessage` of a meter; an event of a channel goes to
  `<prefix>/channel/<channel>/event`, one of the head-end itself to `<prefix>/headend/event`
* `<prefix>/run/<plan>`: a `RunMessage`

One connection is kept open between batches and opened again after any failure. A batch is
published in order on that connection and counts as delivered only when the broker has
acknowledged (PUBACK) every message of it; otherwise the whole batch is sent again later, so a
subscriber may see a message twice (it dedupes by the message `id`) but never misses one.

Grouping: a publish costs the Python client ~130 us of CPU, so one message per reading cannot
drain 20,000 readings/s. Within a batch the readings of a meter are gathered, in outbox order,
into messages of up to `readings_per_message`; a group is published at the place of its first
reading. An event of that meter closes its open group, so every message of a meter (readings and
events) still goes out in outbox order. Messages of different meters may be reordered within a
batch, which no consumer can rely on anyway (their topics differ).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiomqtt
from pydantic import SecretStr

from drivers.contract import Reading
from headend.config.sinks import MqttSink as MqttConfig
from headend.events.model import Event
from headend.sinks.messages import EventMessage, ReadingMessage, RunMessage, readings_json
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

    def messages(self, entries: Sequence[OutboxEntry]) -> list[tuple[str, bytes]]:
        """(topic, payload) of every message for `entries`, in publish order (see the module
        docstring for how readings are grouped)."""
        per_message = self._config.readings_per_message
        if per_message == 1:
            return [(self.topic(entry), self.payload(entry)) for entry in entries]
        slots: list[tuple[str, bytes] | _Group] = []
        open_groups: dict[str, _Group] = {}
        for entry in entries:
            reading = entry.reading
            if reading is not None:
                group = open_groups.get(reading.meter_id)
                if group is None or len(group.readings) >= per_message:
                    group = _Group(reading.meter_id)
                    open_groups[reading.meter_id] = group
                    slots.append(group)
                group.readings.append(reading)
                continue
            if entry.event is not None and entry.event.meter_id is not None:
                open_groups.pop(entry.event.meter_id, None)  # later readings go after the event
            slots.append((self.topic(entry), self.payload(entry)))
        return [
            (
                f"{self._prefix}/meter/{slot.meter}/reading",
                readings_json(slot.meter, slot.readings),
            )
            if isinstance(slot, _Group)
            else slot
            for slot in slots
        ]

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        messages = self.messages(entries)
        client = await self._connected()
        timeout = self._config.timeout_s
        try:
            async with asyncio.timeout(timeout) as deadline:
                await self._publish_all(client, messages, deadline, timeout)
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise SinkUnavailable(self._name, f"{self.where}: publish failed: {exc}") from None
        except TimeoutError:
            await self._drop()
            raise SinkUnavailable(
                self._name, f"{self.where}: no PUBACK within {timeout:g} s"
            ) from None

    async def _publish_all(
        self,
        client: aiomqtt.Client,
        messages: list[tuple[str, bytes]],
        deadline: asyncio.Timeout,
        timeout: float,
    ) -> None:
        """Publish in order with at most `max_inflight` awaiting their PUBACK (a sliding window: new
        PUBLISHes keep flowing while acks come back, so neither side's Nagle/delayed-ACK stalls
        the stream). Each task hands its message to paho in its first step, and tasks start in
        creation order, so the broker receives the batch in outbox order."""
        loop = asyncio.get_running_loop()
        window = self._config.max_inflight
        pending: deque[asyncio.Task[None]] = deque()
        try:
            for topic, payload in messages:
                if len(pending) >= window:
                    await pending.popleft()  # the broker acks in order: the oldest is next
                    deadline.reschedule(loop.time() + timeout)  # progress: a fresh deadline
                pending.append(
                    asyncio.ensure_future(client.publish(topic, payload, qos=1, timeout=math.inf))
                )
            while pending:
                await pending.popleft()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

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
            # a whole window in flight: PUBACK round trips overlap instead of queueing by 20
            max_inflight_messages=config.max_inflight,
            # a window's last PUBLISH must not wait for the broker's delayed ACK (Nagle)
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        client.pending_calls_threshold = config.max_inflight  # a full window is the plan

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


@dataclass
class _Group:
    """A meter's readings gathered for one message, while the batch is being laid out."""

    meter: str
    readings: list[Reading] = field(default_factory=list)


def _connect_reason(exc: aiomqtt.MqttError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "not authorized" in lowered or "bad user name or password" in lowered:
        return f"connection refused: wrong username or password ({text})"
    return f"cannot connect: {text}"

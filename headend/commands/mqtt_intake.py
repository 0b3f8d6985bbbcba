"""Commands over MQTT: `<prefix>/command/<meter>` in, `<prefix>/command/<meter>/result` out.

A message is a `CommandMessage` (JSON: schema version, correlation id, the command's id, action,
arguments, reason, requester). The broker connection authenticates with the configured user and
the password from the environment, and the broker's ACL decides who may publish on the command
topics; the head-end then accepts a command only from a requester on the configured allow-list.

Each message gets answers on the result topic (`CommandAnswer`, QoS 1, with the correlation id):
one when the command is accepted (state `queued`), one with its final state. A message that is
not a valid command, or whose requester is not allowed, is answered with `accepted: false` and
the reason, logged once, and audited as a refused command under an id of its own (so a refused
message never claims the command id it named). A repeated command id runs once: the answer is
the first command's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

import aiomqtt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from headend.commands.model import (
    ID_PATTERN,
    CommandAction,
    CommandRecord,
    CommandRequest,
    CommandState,
)
from headend.commands.service import CommandService
from headend.config.sinks import MqttSink as MqttConfig
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.service.mqtt_link import TopicIntake
from headend.store.base import Store

LOG = logging.getLogger("headend.commands")

SCHEMA_VERSION: Literal[1] = 1


class CommandMessage(BaseModel):
    """A command as it arrives on `<prefix>/command/<meter>`; the meter is the topic's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    correlation_id: str = Field(min_length=1, max_length=128)
    id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="the command's id; default: correlation id"
    )
    action: CommandAction
    limit_w: Decimal | None = Field(default=None, ge=0)
    lease_s: int | None = Field(default=None, gt=0)
    tariff: str | None = Field(default=None, min_length=1)
    reason: str = Field(min_length=1, max_length=1000)
    requester: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=5, ge=0, le=9)
    expires_at: AwareDatetime | None = None

    def request(self, meter: str) -> CommandRequest:
        return CommandRequest(
            id=self.id or self.correlation_id,
            meter=meter,
            action=self.action,
            limit_w=self.limit_w,
            lease_s=self.lease_s,
            tariff=self.tariff,
            reason=self.reason,
            requester=self.requester,
            priority=self.priority,
            expires_at=self.expires_at,
        )


class CommandAnswer(BaseModel):
    """What the head-end says about a command message, on `<prefix>/command/<meter>/result`."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    correlation_id: str
    meter: str
    accepted: bool
    command_id: str | None = None
    state: CommandState | None = None
    final: bool = False
    detail: str = ""
    updated_at: datetime | None = None

    @classmethod
    def of(cls, correlation_id: str, meter: str, record: CommandRecord) -> CommandAnswer:
        return cls(
            correlation_id=correlation_id,
            meter=meter,
            accepted=True,
            command_id=record.id,
            state=record.state,
            final=record.final,
            detail=record.detail,
            updated_at=record.updated_at,
        )


class CommandPort(Protocol):
    """What the intake needs of the command service."""

    async def submit(self, request: CommandRequest) -> CommandRecord: ...

    async def wait(self, command_id: str) -> CommandRecord: ...

    async def refuse(
        self, request: CommandRequest | None, meter: str, requester: str, why: str
    ) -> None:
        """Audit a refused message (never under the command id it named)."""
        ...

    def known_meter(self, meter: str) -> bool: ...


class ServicePort:
    """The command service as the intake uses it: refusals are audited as failed commands under
    an id of their own (`refused-...`, the id they named in the detail), and a message that was
    not even a command is stored as a head-end event."""

    def __init__(self, service: CommandService, store: Store, meters: Collection[str]) -> None:
        self.service = service
        self.store = store
        self._meters = meters

    async def submit(self, request: CommandRequest) -> CommandRecord:
        return await self.service.submit(request)

    async def wait(self, command_id: str) -> CommandRecord:
        return await self.service.wait(command_id)

    def known_meter(self, meter: str) -> bool:
        return meter in self._meters

    async def refuse(
        self, request: CommandRequest | None, meter: str, requester: str, why: str
    ) -> None:
        now = self.service.clock.now()
        if request is None:
            await self.store.save_events([_refusal_event(meter, requester, why, now)])
            return
        fields = request.model_dump(exclude={"id", "expires_at"})
        record = CommandRecord(
            **fields,
            id=f"refused-{uuid.uuid4().hex}",
            expires_at=now,
            state=CommandState.FAILED,
            detail=f"refused over MQTT (command id {request.id!r}): {why}",
            created_at=now,
            updated_at=now,
        )
        await self.store.save_command(record, new=True)


def _refusal_event(meter: str, requester: str, why: str, now: datetime) -> Event:
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=meter,
        code=int(HeadendEvent.COMMAND_REFUSED),
        name="command_refused",
        text=f"MQTT command for meter {meter} from {requester} refused: {why}",
        time=now,
        received_at=now,
        source="mqtt",
        cause=why[:200],
    )


class MqttCommandIntake:
    """Subscribes to the command topics and serves each message concurrently."""

    def __init__(
        self,
        config: MqttConfig,
        site: str,
        port: CommandPort,
        allowed: Collection[str],
        *,
        password: str | None = None,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.config = config
        self.prefix = config.prefix(site)
        self.subscription = f"{self.prefix}/command/+"
        self._port = port
        self._allowed = frozenset(allowed)
        self._intake = TopicIntake(
            config,
            self.subscription,
            self._on_message,
            password=password,
            identifier=f"headend-{site}-commands",
            what="MQTT commands",
            log=LOG,
            backoff_max_s=backoff_max_s,
        )
        self.subscribed = self._intake.subscribed

    def result_topic(self, meter: str) -> str:
        return f"{self.prefix}/command/{meter}/result"

    async def start(self) -> None:
        await self._intake.start()

    async def stop(self) -> None:
        await self._intake.stop()

    async def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        meter = str(message.topic).rsplit("/", 1)[-1]
        await self._serve(client, meter, message.payload)

    async def _serve(self, client: aiomqtt.Client, meter: str, payload: object) -> None:
        raw = payload if isinstance(payload, (bytes, bytearray, str)) else b""
        correlation_id = _field_of(raw, "correlation_id") or ""
        try:
            message = CommandMessage.model_validate_json(raw)
            request = message.request(meter)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "command"
            await self._refuse(client, meter, correlation_id, None, f"{where}: {first['msg']}", raw)
            return
        if request.requester not in self._allowed:
            why = f"requester {request.requester!r} is not allowed to command meters"
            await self._refuse(client, meter, correlation_id, request, why, raw)
            return
        if not self._port.known_meter(meter):
            await self._refuse(client, meter, correlation_id, request, "no such meter", raw)
            return
        try:
            record = await self._port.submit(request)
            await self._answer(client, CommandAnswer.of(correlation_id, meter, record))
            if not record.final:
                record = await self._port.wait(record.id)
                await self._answer(client, CommandAnswer.of(correlation_id, meter, record))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a command that broke is answered, never silently dropped
            LOG.warning("MQTT command %s for meter %s failed: %s", request.id, meter, exc)
            answer = CommandAnswer(
                correlation_id=correlation_id,
                meter=meter,
                accepted=False,
                command_id=request.id,
                detail=f"the head-end could not run the command: {type(exc).__name__}",
            )
            await self._answer(client, answer)

    async def _refuse(
        self,
        client: aiomqtt.Client,
        meter: str,
        correlation_id: str,
        request: CommandRequest | None,
        why: str,
        raw: bytes | bytearray | str,
    ) -> None:
        requester = request.requester if request else (_field_of(raw, "requester") or "?")
        LOG.warning(
            "MQTT command %s for meter %s from %s refused: %s",
            correlation_id or "?",
            meter,
            requester,
            why,
        )
        with contextlib.suppress(Exception):  # the answer goes out even if the audit failed
            await self._port.refuse(request, meter, requester[:200], why)
        answer = CommandAnswer(
            correlation_id=correlation_id,
            meter=meter,
            accepted=False,
            command_id=request.id if request else None,
            state=CommandState.FAILED,
            final=True,
            detail=f"refused: {why}",
        )
        await self._answer(client, answer)

    async def _answer(self, client: aiomqtt.Client, answer: CommandAnswer) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(self.result_topic(answer.meter), answer.model_dump_json(), qos=1)


def _field_of(raw: bytes | bytearray | str, name: str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict) and isinstance(data.get(name), str):
        value: str = data[name][:128]
        return value
    return None

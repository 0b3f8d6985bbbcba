"""One long-lived MQTT connection of the service, kept up with a backoff; an intake of messages
on one subscription over it.

The request intake, the command intake and the load-cycle publisher each hold a connection to
the `[sinks.mqtt]` broker for as long as the service runs. A broker that is down or goes away only
delays them: the connection is tried again after 0.5 s, doubling up to `backoff_max_s`, and each
distinct problem is logged once (then "connected again" once it is over), not at every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiomqtt

from headend.config.sinks import MqttSink

Serve = Callable[[aiomqtt.Client], Awaitable[None]]


async def stay_connected(
    config: MqttSink,
    serve: Serve,
    *,
    password: str | None,
    identifier: str,
    what: str,
    log: logging.Logger,
    on_lost: Callable[[], None] | None = None,
    backoff_max_s: float = 30.0,
) -> None:
    """Connect and run `serve(client)` until the connection fails, then again, for ever (until
    cancelled). `serve` returning ends it. `what` names the user in the log lines."""
    where = f"{config.host}:{config.port}"
    backoff = 0.5
    last_error: str | None = None
    while True:
        try:
            async with aiomqtt.Client(
                config.host,
                config.port,
                username=config.username,
                password=password,
                identifier=identifier,
                timeout=config.timeout_s,
            ) as client:
                if last_error is not None:
                    log.info("%s: connected again to %s", what, where)
                backoff, last_error = 0.5, None
                await serve(client)
                return
        except aiomqtt.MqttError as exc:
            if on_lost is not None:
                on_lost()
            why = str(exc)
            if why != last_error:
                log.warning("%s: broker %s unavailable: %s", what, where, why)
            last_error = why
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, backoff_max_s)


Handle = Callable[[aiomqtt.Client, aiomqtt.Message], Coroutine[Any, Any, None]]


class TopicIntake:
    """The messages of one subscription, for as long as the service runs: each served by
    `handle` in a task of its own (a slow one holds up no other), over a connection kept up by
    `stay_connected`. `subscribed` is set while the subscription stands."""

    def __init__(
        self,
        config: MqttSink,
        subscription: str,
        handle: Handle,
        *,
        password: str | None,
        identifier: str,
        what: str,
        log: logging.Logger,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.config = config
        self.subscription = subscription
        self.subscribed = asyncio.Event()
        self._handle = handle
        self._password = password
        self._identifier = identifier
        self._what = what
        self._log = log
        self._backoff_max_s = backoff_max_s
        self._task: asyncio.Task[None] | None = None
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(
            stay_connected(
                self.config,
                self._serve,
                password=self._password,
                identifier=self._identifier,
                what=self._what,
                log=self._log,
                on_lost=self.subscribed.clear,
                backoff_max_s=self._backoff_max_s,
            ),
            name=self._identifier,
        )

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._serving] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.subscribe(self.subscription, qos=1)
        self.subscribed.set()
        async for message in client.messages:
            task = asyncio.create_task(self._handle(client, message))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

"""One long-lived MQTT connection of the service, kept up with a backoff.

The request intake, the command intake and the load-cycle publisher each hold a connection to
the `[sinks.mqtt]` broker for as long as the service runs. A broker that is down or goes away only
delays them: the connection is tried again after 0.5 s, doubling up to `backoff_max_s`, and each
distinct problem is logged once (then "connected again" once it is over), not at every attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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

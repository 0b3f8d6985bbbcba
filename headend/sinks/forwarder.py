"""The outbox forwarder: one task per sink moves entries from the store to that sink.

Each task fetches a batch after its sink's cursor, delivers it, acknowledges its last seq and
repeats; when the outbox is empty it waits for `notify()` (called after a save) or a short poll.
When a delivery fails the task logs one line (sink, why, how many entries wait), backs off
(doubling up to a cap) and retries the *same* batch, so a sink that is down only delays its share
of the outbox, which it then receives in order. Other sinks keep their own pace.

Delivery is at-least-once: a failure or a crash after a sink accepted a batch but before its ack
was stored sends that batch again. MQTT consumers dedupe by the message `id`; InfluxDB overwrites
a point written again with the same tags and timestamp. Nothing is written twice to the store: the
forwarder only moves cursors. Cancelling (`stop()`) never interrupts an ack in progress, so the
cursor stays at the last delivered entry.

A prune task deletes, now and then, the entries every configured sink has acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from pydantic import BaseModel, ConfigDict

from headend.config.fleet import Fleet
from headend.config.sinks import InfluxSink as InfluxConfig
from headend.config.sinks import MqttSink as MqttConfig
from headend.config.sinks import Sinks
from headend.sinks.influxdb import InfluxSink
from headend.sinks.mqtt import MqttSink
from headend.sinks.sink import Sink, SinkUnavailable
from headend.store.base import OutboxEntry, Store, StoreError

LOG = logging.getLogger(__name__)

_REPEAT_S = 300.0
_ACK_ON_STOP_S = 10.0  # a sink that stays down with the same reason is logged again this often


class SinkStatus(BaseModel):
    """How one sink is doing: the store's view of its backlog plus this process's view."""

    model_config = ConfigDict(frozen=True)

    sink: str
    depth: int  # entries after its cursor
    oldest_at: datetime | None  # created_at of the oldest undelivered entry
    delivered_seq: int  # its cursor
    delivered: int  # entries delivered by this forwarder since it started
    failing: bool
    last_error: str | None  # why the latest delivery failed (cleared by a success)


def sinks_from_config(
    config: Sinks | None, fleet: Fleet, env: Mapping[str, str] | None = None
) -> list[Sink]:
    """The configured sinks, with their secrets from the environment (`env`, else os.environ)."""
    if config is None:
        return []
    sinks: list[Sink] = []
    if config.mqtt is not None:
        sinks.append(MqttSink(config.mqtt, site=fleet.site.name, password=MqttConfig.password(env)))
    if config.influxdb is not None:
        sinks.append(InfluxSink(config.influxdb, fleet=fleet, token=InfluxConfig.token(env)))
    return sinks


@dataclass
class _State:
    sink: Sink
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: int = 0
    acked: int = 0  # the last seq this forwarder acknowledged for the sink
    last_error: str | None = None
    failing_since: float | None = None
    logged_error: str | None = None
    logged_at: float = 0.0


class Forwarder:
    """Feeds every sink from the store's outbox; use as `async with Forwarder(...)` or
    `start()`/`stop()`.

    `sinks` is the `[sinks]` configuration (sinks built with secrets from `env`) or sinks already
    built. The forwarder closes the sinks it runs when it stops.
    """

    def __init__(
        self,
        store: Store,
        sinks: Sinks | Sequence[Sink] | None,
        fleet: Fleet,
        *,
        env: Mapping[str, str] | None = None,
        poll_s: float = 1.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        prune_every_s: float = 60.0,
    ) -> None:
        if sinks is None or isinstance(sinks, Sinks):
            built = sinks_from_config(sinks, fleet, env)
        else:
            built = list(sinks)
        names = [sink.name for sink in built]
        if len(set(names)) != len(names):
            raise ValueError(f"two sinks share an outbox cursor name: {names}")
        self._store = store
        self._states = [_State(sink) for sink in built]
        self._poll_s = poll_s
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._prune_every_s = prune_every_s
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def names(self) -> list[str]:
        return [state.sink.name for state in self._states]

    async def start(self) -> None:
        if self._tasks:
            return
        for state in self._states:
            self._tasks.append(
                asyncio.create_task(self._forward(state), name=f"outbox-{state.sink.name}")
            )
        self._tasks.append(asyncio.create_task(self._prune(), name="outbox-prune"))

    def notify(self) -> None:
        """New entries were stored: sinks waiting on an empty outbox look again now."""
        for state in self._states:
            state.wake.set()

    async def stop(self) -> None:
        """Cancel the tasks (an ack in progress completes first) and close the sinks."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for state in self._states:
            try:
                await state.sink.close()
            except Exception as exc:  # closing a broken connection must not stop the others
                LOG.warning("sink %s: close failed: %s", state.sink.name, exc)

    async def __aenter__(self) -> Forwarder:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def status(self) -> list[SinkStatus]:
        stored = {s.sink: s for s in await self._store.outbox_status(self.names)}
        out = []
        for state in self._states:
            row = stored[state.sink.name]
            out.append(
                SinkStatus(
                    sink=row.sink,
                    depth=row.depth,
                    oldest_at=row.oldest_at,
                    delivered_seq=row.delivered_seq,
                    delivered=state.delivered,
                    failing=state.failing_since is not None,
                    last_error=state.last_error,
                )
            )
        return out

    # -- the tasks ------------------------------------------------------------------------------

    async def _forward(self, state: _State) -> None:
        name = state.sink.name
        while True:
            state.wake.clear()  # before the fetch: a notify() during it is not missed
            entries = await self._fetch(state)
            if not entries:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.wake.wait(), self._poll_s)
                continue
            await self._deliver(state, entries)
            await self._ack(name, entries[-1].seq)
            state.acked = entries[-1].seq
            state.delivered += len(entries)

    async def _fetch(self, state: _State) -> list[OutboxEntry]:
        backoff = self._backoff_s
        while True:
            try:
                entries = await self._store.outbox_fetch(state.sink.name, state.sink.batch_size)
                # A read that overlaps another on the store's reader connection (a status query)
                # may see the cursor as it was before the last ack: never deliver those twice.
                return [e for e in entries if e.seq > state.acked]
            except StoreError as exc:
                LOG.error("sink %s: cannot read the outbox: %s", state.sink.name, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _deliver(self, state: _State, entries: list[OutboxEntry]) -> None:
        """Deliver `entries`, retrying the same batch until the sink takes it."""
        backoff = self._backoff_s
        while True:
            try:
                await state.sink.deliver(entries)
            except SinkUnavailable as exc:
                reason = exc.reason
            except Exception as exc:  # a bug in a sink must not end its task: retry, loudly
                LOG.exception("sink %s: delivery raised", state.sink.name)
                reason = f"unexpected {type(exc).__name__}: {exc}"
            else:
                self._recovered(state, len(entries))
                return
            await self._failed(state, reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _failed(self, state: _State, reason: str, backoff: float) -> None:
        now = time.monotonic()
        repeat = reason == state.logged_error and now - state.logged_at < _REPEAT_S
        depth = "?"
        if not repeat:
            try:
                depth = str((await self._store.outbox_status([state.sink.name]))[0].depth)
            except StoreError:
                pass
        # failing shows in the status only once its line is logged: nothing awaited in between,
        # so a shutdown that follows the status never leaves the failure unsaid
        if state.failing_since is None:
            state.failing_since = now
        state.last_error = reason
        if repeat:
            return
        state.logged_error, state.logged_at = reason, now
        LOG.warning(
            "sink %s: not delivered: %s; %s entries waiting, retrying in %g s",
            state.sink.name,
            reason,
            depth,
            backoff,
        )

    def _recovered(self, state: _State, count: int) -> None:
        if state.failing_since is not None:
            LOG.info(
                "sink %s: delivering again after %.0f s down",
                state.sink.name,
                time.monotonic() - state.failing_since,
            )
        state.failing_since = None
        state.last_error = state.logged_error = None

    async def _ack(self, name: str, seq: int) -> None:
        """Store the cursor even when cancelled meanwhile: the batch is delivered."""
        ack = asyncio.ensure_future(self._ack_retrying(name, seq))
        try:
            await asyncio.shield(ack)
        except asyncio.CancelledError:
            # bounded: a store that keeps failing must not hold up a shutdown forever
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ack, _ACK_ON_STOP_S)
            raise

    async def _ack_retrying(self, name: str, seq: int) -> None:
        backoff = self._backoff_s
        while True:
            try:
                await self._store.outbox_ack(name, seq)
                return
            except StoreError as exc:
                LOG.error("sink %s: cannot store the cursor at %d: %s", name, seq, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _prune(self) -> None:
        names = self.names
        while True:
            await asyncio.sleep(self._prune_every_s)
            try:
                await self._store.outbox_prune(names)
            except StoreError as exc:
                LOG.error("outbox: prune failed: %s", exc)

"""The command service: commands to meters with a persisted, audited lifecycle.

`submit` stores a command `queued` before anything is sent and returns its record; a known id
returns the stored record and runs nothing again (in this process, in another one, or after a
restart: the id is in the store). A group command becomes one child per meter (`<id>/<meter>`)
and is final when all its children are: failed if any failed, else expired if any expired, else
armed if any was only armed, else confirmed.

The commands of one meter run one at a time in the order submitted; up to `max_meters` meters are
commanded at once, the most urgent priority first. Each attempt goes on the priority lane of the
meter's channel (`sending.py`): it waits at most for the request in progress there, never for
the bulk reading queued behind it. The outcome: confirmed (read back in the commanded state),
armed (a reconnect awaiting the customer), failed (refused: final, not retried) or, after
channel failures retried with capped exponential backoff, expired once its expiry has passed.

Every state change is stored with its audit row in one transaction (who: the requester, when: the
service clock). A failed or expired command also becomes a head-end event, and each final command
is one log line. `recover()` at start-up expires what expired while the head-end was down and
resumes the rest (a command that was `sent` when the head-end stopped is sent again: every action
sets a state, so sending it twice is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from drivers.channel import ChannelRegistry
from drivers.errors import DriverError
from headend.commands.model import (
    FINAL_STATES,
    CommandRecord,
    CommandRequest,
    CommandState,
)
from headend.commands.outcomes import event_of, final_line
from headend.commands.sending import FINAL_ERRORS, outcome, send
from headend.commands.slots import PrioritySlots
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.reading.meter import SettingsResolver, reason_of
from headend.service.clock import ServiceClock
from headend.store.base import Store, StoreError

# under headend.service: `headend run` shows that logger's INFO lines (one per final command)
LOG = logging.getLogger("headend.service.commands")

FinalCallback = Callable[[CommandRecord], Awaitable[None]]
OPEN_STATES = (CommandState.QUEUED, CommandState.SENT)
_POLL_S = 0.2  # how often `wait` looks at a command another process runs


class UnknownTarget(ValueError):
    """The request names a meter or group this fleet does not have."""


class CommandService:
    def __init__(
        self,
        config: HeadendConfig,
        store: Store,
        channels: ChannelRegistry,
        clock: ServiceClock,
        *,
        resolve: SettingsResolver | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.channels = channels
        self.clock = clock
        self.settings = config.fleet.service.commands
        self.resolve: SettingsResolver = resolve or (lambda m: meter_settings(config, m))
        self.groups = {
            name: list(meters)
            for name, meters in (self.settings.groups if groups is None else groups).items()
        }
        self.on_final: list[FinalCallback] = []
        self._slots = PrioritySlots(self.settings.max_meters)
        self._queues: dict[str, deque[CommandRecord]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._active: set[str] = set()  # ids of open commands this process runs
        self._children: dict[str, set[str]] = {}  # group id -> its open children
        self._finals: dict[str, asyncio.Future[CommandRecord]] = {}
        self._submitting: dict[str, asyncio.Future[CommandRecord]] = {}
        self._closed = False

    # -- the interface -------------------------------------------------------------------------

    async def submit(self, request: CommandRequest) -> CommandRecord:
        """Store the command `queued` and start it; a known id returns its stored record.

        Raises `UnknownTarget` for a meter or group not in the fleet, `StoreError` when it
        cannot be stored (then nothing is sent)."""
        if self._closed:
            raise RuntimeError("the command service is closed")
        running = self._submitting.get(request.id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[CommandRecord] = asyncio.get_running_loop().create_future()
        self._submitting[request.id] = future
        try:
            record = await self._submit(request)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failed submit with no second caller is no warning
            raise
        finally:
            del self._submitting[request.id]
        future.set_result(record)
        return record

    async def wait(self, command_id: str, timeout: float | None = None) -> CommandRecord:
        """The command's final record, once it has one; `KeyError` for an unknown id,
        `TimeoutError` after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                if command_id in self._active:
                    # run here: answered once its event and listeners are done too
                    future = self._finals.get(command_id)
                    if future is None:
                        future = asyncio.get_running_loop().create_future()
                        self._finals[command_id] = future
                    return await asyncio.shield(future)
                record = await self.store.command(command_id)
                if record is None:
                    raise KeyError(f"no command {command_id!r}")
                if record.final:
                    return record
                if command_id not in self._active:
                    await asyncio.sleep(_POLL_S)  # run by another process, or not recovered

    async def execute(self, request: CommandRequest) -> CommandRecord:
        """Submit and wait for the final record."""
        record = await self.submit(request)
        return record if record.final else await self.wait(record.id)

    async def recover(self) -> int:
        """At start-up: expire the open commands whose expiry has passed, resume the others.
        Returns how many were resumed."""
        now = self.clock.now()
        resume: list[CommandRecord] = []
        groups: list[CommandRecord] = []
        for record in await self.store.commands(states=OPEN_STATES):
            if record.id in self._active:
                continue
            if record.group is not None:
                groups.append(record)
            elif record.expires_at is not None and record.expires_at <= now:
                await self._finish(
                    record, CommandState.EXPIRED, "expired while the head-end was down"
                )
            elif record.meter is not None and record.meter in self.config.fleet.index.meters:
                resume.append(record)
            else:
                await self._finish(
                    record, CommandState.FAILED, f"no meter {record.meter} in the fleet"
                )
        settled: list[CommandRecord] = []
        expanded: list[tuple[CommandRecord, list[CommandRecord]]] = []
        for group in groups:
            children = await self._children_of(group)
            known = {c.id for c in resume}
            resume.extend(c for c in children if not c.final and c.id not in known)
            expanded.append((group, children))
        # register everything before any worker runs, so no child finishes unseen by its group
        for group, children in expanded:
            open_ids = {c.id for c in children if not c.final}
            if open_ids:
                self._children[group.id] = open_ids
                self._active.add(group.id)
            else:
                settled.append(group)
        for record in resume:
            self._enqueue(record)
        for group in settled:
            await self._settle_group(group)
        if resume:
            LOG.info("commands: %d resumed after the restart", len(resume))
        return len(resume)

    def in_flight(self) -> int:
        """Open meter commands this process runs (queued or sent)."""
        return len(self._active) - len(self._children)

    async def close(self) -> None:
        """Stop sending; open commands stay stored as they are and `recover` resumes them."""
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in self._finals.values():
            future.cancel()
        self._finals.clear()

    # -- submitting ----------------------------------------------------------------------------

    async def _submit(self, request: CommandRequest) -> CommandRecord:
        stored = await self.store.command(request.id)
        if stored is not None:
            return stored
        self._check_target(request)
        now = self.clock.now()
        expires = request.expires_at or now + timedelta(seconds=self.settings.default_expiry_s)
        fields: dict[str, Any] = request.model_dump()
        fields.update(
            expires_at=expires,
            state=CommandState.QUEUED,
            created_at=now,
            updated_at=now,
            detail=f"queued: {request.reason}",
        )
        record = CommandRecord.model_validate(fields)
        saved = await self.store.save_command(record, new=True)
        if saved is not record:
            return saved  # another process stored this id first
        if record.group is None:
            self._enqueue(record)
            return record
        children = await self._children_of(record)
        open_children = [c for c in children if not c.final]
        if not open_children:
            await self._settle_group(record)
        else:
            self._children[record.id] = {c.id for c in open_children}
            self._active.add(record.id)
            for child in open_children:
                self._enqueue(child)
        return record

    def _check_target(self, request: CommandRequest) -> None:
        known = self.config.fleet.index.meters
        if request.meter is not None and request.meter not in known:
            raise UnknownTarget(f"no meter {request.meter} in the fleet")
        if request.group is not None:
            meters = self.groups.get(request.group)
            if meters is None:
                names = ", ".join(sorted(self.groups)) or "none configured"
                raise UnknownTarget(f"no group {request.group!r} (groups: {names})")
            unknown = [m for m in meters if m not in known]
            if unknown:
                raise UnknownTarget(f"group {request.group!r}: no meter(s) {', '.join(unknown)}")

    async def _children_of(self, group: CommandRecord) -> list[CommandRecord]:
        """The group's per-meter commands, created where missing (a restart between storing the
        group and its children creates the rest)."""
        assert group.group is not None
        meters = self.groups.get(group.group, [])
        stored = {c.id: c for c in await self.store.commands(parent=group.id)}
        children: list[CommandRecord] = list(stored.values())
        now = self.clock.now()
        for meter in meters:
            child_id = f"{group.id}/{meter}"
            if child_id in stored:
                continue
            child = group.model_copy(
                update={
                    "id": child_id,
                    "meter": meter,
                    "group": None,
                    "parent": group.id,
                    "state": CommandState.QUEUED,
                    "attempts": 0,
                    "detail": f"queued for group {group.group}",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            children.append(await self.store.save_command(child, new=True))
        if group.state is CommandState.QUEUED:
            await self._change(group, CommandState.SENT, detail=f"sent as {len(children)} commands")
        return children

    # -- running -------------------------------------------------------------------------------

    def _enqueue(self, record: CommandRecord) -> None:
        assert record.meter is not None
        self._active.add(record.id)
        queue = self._queues.setdefault(record.meter, deque())
        queue.append(record)
        if record.meter not in self._workers and not self._closed:
            self._workers[record.meter] = asyncio.create_task(
                self._work(record.meter), name=f"commands {record.meter}"
            )

    async def _work(self, meter: str) -> None:
        queue = self._queues[meter]
        try:
            while queue and not self._closed:
                record = queue.popleft()
                try:
                    await self._run(record)
                except StoreError as exc:
                    # stays as last stored; the next start resumes it
                    LOG.error("command %s: the store failed: %s", record.id, exc)
                    self._abandon(record.id)
                except Exception:  # a bug: keep its traceback, go on with the meter's next
                    LOG.exception("command %s: failed unexpectedly", record.id)
                    self._abandon(record.id)
        finally:
            self._workers.pop(meter, None)
            if not queue:
                self._queues.pop(meter, None)

    def _abandon(self, command_id: str) -> None:
        """Stop tracking a command this process cannot finish (it stays open in the store)."""
        self._active.discard(command_id)
        future = self._finals.pop(command_id, None)
        if future is not None:
            future.cancel()

    async def _run(self, record: CommandRecord) -> None:
        last_error = ""
        while True:
            left = self._seconds_left(record)
            if left is not None and left <= 0:
                detail = (
                    f"expired after {record.attempts} attempt(s); last: {last_error}"
                    if record.attempts
                    else "expired before it could be sent"
                )
                await self._finish(record, CommandState.EXPIRED, detail)
                return
            attempt = record.attempts + 1
            record = await self._change(
                record, CommandState.SENT, attempts=attempt, detail=f"attempt {attempt}"
            )
            if record.final:  # finished elsewhere meanwhile
                await self._finalised(record)
                return
            state, detail = await self._attempt(record)
            if state is not None:
                await self._finish(record, state, detail)
                return
            last_error = detail
            left = self._seconds_left(record)
            if left is not None and left <= 0:
                continue
            delay = min(self.settings.backoff_s * 2 ** (attempt - 1), self.settings.backoff_max_s)
            if left is not None:
                delay = min(delay, left)
            record = await self._change(
                record,
                CommandState.SENT,
                detail=f"attempt {attempt} failed: {last_error}; next in {delay:.3g} s",
            )
            # the meter slot is not held while waiting: a dead meter keeps no other one waiting
            await asyncio.sleep(delay)

    async def _attempt(self, record: CommandRecord) -> tuple[CommandState | None, str]:
        """One send: the final state and detail, or None and the reason to try again."""
        try:
            async with asyncio.timeout(self._seconds_left(record)):
                async with self._slots.slot(record.priority):
                    result = await send(
                        self.config,
                        self.channels,
                        self.store,
                        self.resolve,
                        record,
                        self.clock.now(),
                    )
        except FINAL_ERRORS as exc:
            return CommandState.FAILED, reason_of(exc)
        except DriverError as exc:
            return None, reason_of(exc)
        except TimeoutError:
            return None, "no outcome before the expiry (it may have taken effect)"
        except Exception as exc:  # e.g. the meter's settings cannot be built
            LOG.exception("command %s: unexpected failure", record.id)
            return CommandState.FAILED, reason_of(exc)
        state = outcome(result)
        return state, result.detail or state.value

    def _seconds_left(self, record: CommandRecord) -> float | None:
        """Real seconds until the command expires (None: the clock is frozen)."""
        assert record.expires_at is not None
        factor = self.clock.factor
        if factor <= 0:
            return None
        return (record.expires_at - self.clock.now()).total_seconds() / factor

    # -- state changes -------------------------------------------------------------------------

    async def _change(
        self, record: CommandRecord, state: CommandState, **fields: Any
    ) -> CommandRecord:
        changed = record.model_copy(
            update={"state": state, "updated_at": self.clock.now(), **fields}
        )
        return await self.store.save_command(changed)

    async def _finish(self, record: CommandRecord, state: CommandState, detail: str) -> None:
        assert state in FINAL_STATES
        await self._finalised(await self._change(record, state, detail=detail))

    async def _finalised(self, record: CommandRecord) -> None:
        LOG.info(final_line(record))
        if record.meter is not None and record.state in (
            CommandState.FAILED,
            CommandState.EXPIRED,
        ):
            await self._raise_event(record)
        for callback in self.on_final:
            try:
                await callback(record)
            except Exception:  # one listener's bug must not stop the others or the command
                LOG.exception("command %s: a final-state listener failed", record.id)
        self._active.discard(record.id)
        future = self._finals.pop(record.id, None)
        if future is not None and not future.done():
            future.set_result(record)
        if record.parent is not None:
            pending = self._children.get(record.parent)
            if pending is not None:
                pending.discard(record.id)
                if not pending:
                    del self._children[record.parent]
                    group = await self.store.command(record.parent)
                    if group is not None and not group.final:
                        await self._settle_group(group)

    async def _settle_group(self, group: CommandRecord) -> None:
        children = await self.store.commands(parent=group.id)
        counts: dict[CommandState, int] = {}
        for child in children:
            counts[child.state] = counts.get(child.state, 0) + 1
        state = CommandState.CONFIRMED
        for worst in (CommandState.ARMED, CommandState.EXPIRED, CommandState.FAILED):
            if counts.get(worst):
                state = worst
        detail = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items()))
        await self._finish(group, state, detail or "no meters")

    async def _raise_event(self, record: CommandRecord) -> None:
        try:
            await self.store.save_events([event_of(record, self.clock.now())])
        except StoreError as exc:
            LOG.error("command %s: its event could not be stored: %s", record.id, exc)

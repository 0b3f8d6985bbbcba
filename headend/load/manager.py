"""The load manager: runs every feeder's control cycle in service time, with I/O at the edges.

Per cycle and feeder: read the feeder meter (a callable), fetch the households' latest usage
from the store (`latest_values`, not polling every household), step the feeder's controller,
submit its commands (requester "load-manager", priority 1, expiring three cycles after they are
sent, limits with the configured lease), then save and publish the cycles' records. One log line
per feeder per cycle. A failure on one feeder (its meter, the store, a command) never stops the
others: that feeder's cycle is logged and the rest go on.

Everything outside is reached through small Protocols and callables, so the manager runs in tests
without the command service or a store; `submit_to(service)` adapts the command service.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from drivers.contract import Reading
from headend.config.load import DemandResponseEvent, FeederSettings, LoadSettings
from headend.load.controller import FeederController
from headend.load.decision import CycleDecision, HouseholdCommand
from headend.load.metrics import LoadCycle
from headend.service.clock import ServiceClock, sleep_until

LOG = logging.getLogger(__name__)

REQUESTER = "load-manager"
PRIORITY = 1
_SUBMIT_BATCH = 200
_EXPIRY_CYCLES = 3


class UsageStore(Protocol):
    async def latest_values(
        self,
        obis: str,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> Mapping[str, Reading]: ...


class CommandOutcome(Protocol):
    """What the manager needs of a final command record."""

    @property
    def id(self) -> str: ...
    @property
    def meter(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def requester(self) -> str: ...


class SubmitsRequests(Protocol):
    async def submit(self, request: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    """A command as the load manager sends it: the command service's request fields."""

    id: str
    meter: str
    action: str
    reason: str
    expires_at: datetime
    limit_w: Decimal | None = None
    lease_s: int | None = None
    requester: str = REQUESTER
    priority: int = PRIORITY

    def fields(self) -> dict[str, Any]:
        """Keyword arguments of the command service's CommandRequest."""
        return {
            "id": self.id,
            "meter": self.meter,
            "action": self.action,
            "limit_w": self.limit_w,
            "lease_s": self.lease_s,
            "reason": self.reason,
            "requester": self.requester,
            "priority": self.priority,
            "expires_at": self.expires_at,
        }


FeederReader = Callable[[FeederSettings], Awaitable[float | None]]
"""The feeder meter's net load in kW now (None: not available)."""
Submit = Callable[[OutgoingCommand], Awaitable[None]]
SaveCycles = Callable[[Sequence[LoadCycle]], Awaitable[None]]
Publish = Callable[[LoadCycle], Awaitable[None]]
Notify = Callable[[str, str], Awaitable[None]]
"""(feeder id, text): an infeasible feeder or a demand-response change, for the event log."""


def submit_to(service: SubmitsRequests) -> Submit:
    """Send through the command service (persisted queued before anything is sent)."""
    from headend.commands.model import CommandRequest  # the command service's own model

    async def submit(command: OutgoingCommand) -> None:
        await service.submit(CommandRequest(**command.fields()))

    return submit


def usage_kw(reading: Reading, period: timedelta | None = None) -> float | None:
    """A power reading in kW (W when the unit is missing, as OBIS x.7.0 registers are), or the
    energy of a profile period (Wh, kWh) as its mean power when the period is known; None for
    anything else."""
    value = reading.value
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    unit = (reading.unit or "W").strip()
    if unit == "W":
        return float(value) / 1000
    if unit == "kW":
        return float(value)
    if period is not None and unit in ("Wh", "kWh"):
        kwh = float(value) / 1000 if unit == "Wh" else float(value)
        return kwh / (period.total_seconds() / 3600)
    return None


class LoadManager:
    def __init__(
        self,
        settings: LoadSettings,
        *,
        clock: ServiceClock,
        read_feeder: FeederReader,
        store: UsageStore,
        submit: Submit,
        save: SaveCycles | None = None,
        publish: Publish | None = None,
        notify: Notify | None = None,
        coalesce: bool = False,
    ) -> None:
        """`coalesce`: the caller reports every final load command (`on_command_final`), so a
        household whose limit is still on its way is not sent another one (see `_feeder_cycle`)."""
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(f"load.{path}: {reason}" for path, reason in problems))
        self.settings = settings
        self.clock = clock
        self._read_feeder = read_feeder
        self._store = store
        self._submit = submit
        self._save = save
        self._publish = publish
        self._notify = notify
        self.controllers = {
            feeder.id: FeederController(feeder, settings) for feeder in settings.feeders
        }
        self._feeder_of = {
            household: feeder.id for feeder in settings.feeders for household in feeder.households
        }
        self._events: dict[tuple[str, int], DemandResponseEvent] = {}
        self.last: dict[str, CycleDecision] = {}
        self._coalesce = coalesce
        self._limits_on_the_way: dict[str, str] = {}
        """Household -> id of its limit command submitted and not yet final (with `coalesce`)."""

    def publish_to(self, publish: Publish) -> None:
        """Publish each cycle's record with `publish` from the next cycle on."""
        self._publish = publish

    def restore_disconnected(self, households: Mapping[str, float]) -> list[str]:
        """Households an earlier run disconnected for load (id -> demand when cut, kW), e.g.
        from the command store's last load-manager disconnect without a later reconnect; they
        are reconnected once their feeder has room. Returns the ids on no feeder (ignored)."""
        unknown = []
        for household, demand_kw in households.items():
            feeder = self._feeder_of.get(household)
            if feeder is None:
                unknown.append(household)
            else:
                self.controllers[feeder].assume_disconnected(household, demand_kw)
        return unknown

    def add_event(self, event: DemandResponseEvent) -> None:
        """A demand-response event (or a new version of one, or its cancellation) from outside
        the configuration; applied from the next cycle."""
        self._events[(event.id, event.version)] = event

    async def on_command_final(self, record: CommandOutcome) -> None:
        """For the command service's `on_final`: a load command that failed or expired is
        forgotten, so the next cycle decides about that household again."""
        if record.requester != REQUESTER or record.meter is None:
            return
        if self._limits_on_the_way.get(record.meter) == record.id:
            del self._limits_on_the_way[record.meter]
        if str(record.state) not in ("failed", "expired"):
            return
        feeder = self._feeder_of.get(record.meter)
        if feeder is not None:
            self.controllers[feeder].command_failed(record.meter, str(record.action))

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle on the cycle's boundaries in service time until `stop` is set."""
        at = self.clock.now()
        while not stop.is_set():
            await self.run_cycle(at)
            # Stamped with the boundary, not the moment of waking: records a cycle apart.
            at = _next_boundary(max(at, self.clock.now()), self.settings.cycle)
            wake = at
            sleeper = asyncio.ensure_future(sleep_until(self.clock, wake))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeper, stopper):
                    task.cancel()

    async def run_cycle(self, now: datetime | None = None) -> list[CycleDecision]:
        """One control cycle of every feeder; returns the decisions of those that completed."""
        at = self.clock.now() if now is None else now
        events = list(self._events.values())
        outcomes = await asyncio.gather(
            *(self._feeder_cycle(c, at, events) for c in self.controllers.values()),
            return_exceptions=True,
        )
        decisions: list[CycleDecision] = []
        for controller, outcome in zip(self.controllers.values(), outcomes, strict=True):
            if isinstance(outcome, CycleDecision):
                decisions.append(outcome)
                self.last[controller.feeder.id] = outcome
            elif isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation and the like are not a feeder's failure
                LOG.error(
                    "load: feeder %s: cycle failed: %s: %s",
                    controller.feeder.id,
                    type(outcome).__name__,
                    outcome,
                )
        cycles = [d.cycle for d in decisions]
        if self._save is not None and cycles:
            try:
                await self._save(cycles)
            except Exception as exc:
                LOG.error("load: saving %d cycle records failed: %s", len(cycles), exc)
        if self._publish is not None:
            for cycle in cycles:
                try:
                    await self._publish(cycle)
                except Exception as exc:
                    LOG.warning("load: publishing feeder %s's cycle failed: %s", cycle.feeder, exc)
        return decisions

    async def _feeder_cycle(
        self, controller: FeederController, now: datetime, events: Iterable[DemandResponseEvent]
    ) -> CycleDecision:
        feeder = controller.feeder
        problems: list[str] = []
        try:
            load = await self._read_feeder(feeder)
        except Exception as exc:
            load = None
            problems.append(f"feeder meter {feeder.meter}: {type(exc).__name__}: {exc}")
        max_age = self.settings.usage_max_age
        ages = _Ages(now, self.clock.factor)
        readings = await self._store.latest_values(
            self.settings.usage_obis, list(feeder.households), since=ages.since(max_age)
        )
        usage: dict[str, float] = {}
        for household, reading in readings.items():
            fresh = ages.age(reading) <= max_age
            kw = usage_kw(reading, self.settings.usage_period) if fresh else None
            if kw is not None:
                usage[household] = kw
        decision = controller.step(now, load, usage, events)
        failed = 0
        # A new limit for a household whose last limit is still queued is not sent: in a burst
        # (the fair share's level moving every capped household's limit at once) the queue
        # would hold several limits per household, each going out after it is out of date. It
        # is decided again next cycle. Releases and switching are always sent: the command
        # service runs a meter's commands in order, so they land after what is queued.
        sending: list[HouseholdCommand] = []
        waiting: list[HouseholdCommand] = []
        for command in decision.commands:
            held = command.action in ("limit", "renew")
            held = held and command.household in self._limits_on_the_way
            (waiting if held else sending).append(command)
        for command in waiting:
            controller.command_failed(command.household, command.action)
        for start in range(0, len(sending), _SUBMIT_BATCH):
            batch = sending[start : start + _SUBMIT_BATCH]
            results = await asyncio.gather(
                *(self._send(feeder, command, now) for command in batch),
                return_exceptions=True,
            )
            for command, result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    failed += 1
                    controller.command_failed(command.household, command.action)
                    problems.append(f"{command.household} {command.action}: {result}")
                elif isinstance(result, BaseException):
                    raise result
        missing = len(feeder.households) - len(usage)
        line = decision.cycle.report
        if missing:
            line += f"; {missing} households without recent usage"
        if failed:
            line += f"; {failed} commands not submitted"
        if waiting:
            line += f"; {len(waiting)} limits held back (the last still on its way)"
        for notice in decision.notices:
            if notice != decision.infeasible:
                line += f"; {notice}"
        if problems:
            line += "; " + "; ".join(problems[:3])
        level = logging.WARNING if decision.infeasible or problems else logging.INFO
        LOG.log(level, "load: %s", line)
        if self._notify is not None:
            for notice in decision.notices:
                try:
                    await self._notify(feeder.id, notice)
                except Exception as exc:
                    LOG.warning("load: feeder %s: notice not recorded: %s", feeder.id, exc)
        return decision

    async def _send(self, feeder: FeederSettings, command: HouseholdCommand, now: datetime) -> None:
        action = command.command_action
        identifier = command_id(feeder.id, command.household, action, now)
        await self._submit(
            OutgoingCommand(
                id=identifier,
                meter=command.household,
                action=action,
                reason=command.reason,
                # from when it is sent, not from the cycle's stamp: a cycle that ran late (a
                # busy head-end) must not send commands that are already out of date; three
                # cycles, so a burst that takes the command service longer than one cycle is
                # delivered rather than expired and decided again (no second limit goes to a
                # household while one is on its way)
                expires_at=max(now, self.clock.now()) + _EXPIRY_CYCLES * self.settings.cycle,
                limit_w=None if command.limit_w is None else Decimal(command.limit_w),
                lease_s=command.lease_s if action == "limit" else None,
            )
        )
        if self._coalesce and action == "limit":
            self._limits_on_the_way[command.household] = identifier


class _Ages:
    """How old a stored reading is in service time.

    An instantaneous value has no capture time: it is keyed on its receive time, the wall clock,
    which an accelerated simulation's service time runs ahead of (`factor` times faster); a
    profile value on its capture time, the meter's clock, in service time. A frozen clock
    (factor 0, tests) ages both in service time."""

    def __init__(self, now: datetime, factor: float) -> None:
        self.now = now
        self.factor = factor
        self.wall = datetime.now(UTC)

    def since(self, max_age: timedelta) -> datetime:
        """The earliest time, by either clock, a reading young enough may be stored at."""
        if self.factor <= 0:
            return self.now - max_age
        return min(self.now - max_age, self.wall - max_age / self.factor)

    def age(self, reading: Reading) -> timedelta:
        if reading.capture_time is not None:
            return self.now - reading.capture_time
        if self.factor <= 0:
            return self.now - reading.receive_time
        return (self.wall - reading.receive_time) * self.factor


def command_id(feeder: str, household: str, action: str, now: datetime) -> str:
    """One id per feeder, household, action and cycle: a cycle run twice (a restart) sends
    nothing twice, the command service answering a known id with its first outcome."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = f"load:{feeder}:{household}:{action}:{stamp}"
    if len(text) <= 128:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"load:{digest}:{stamp}"


def _next_boundary(now: datetime, cycle: timedelta) -> datetime:
    """The next multiple of the cycle since the epoch after `now` (cycles at :00, :05, ...)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    elapsed = now - epoch
    return epoch + (elapsed // cycle + 1) * cycle

"""Reading one meter: what is still to read, one attempt through its channel, the final report.

Every reading obtained goes to the sink at once (through `Saver`), so nothing already read is lost
when a later request or attempt fails. A retry asks only for what is still missing. Refusals by the
meter (object unavailable, unsupported) and failed authentication are final: repeating them cannot
help (and a wrong key would only burn invocation counters). Each attempt runs under a hang guard
(`policy.meter_budget_s`) on top of the driver's own per-reply deadlines; the guard starts once the
session holds its channel, so waiting for the turn never counts against the meter. Retries are
scheduled by the executor (back of the channel's queue, after a backoff), never slept here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from drivers.channel import BreakerOpen, BreakerPolicy, Channel, ChannelRegistry, ChannelSpec, Lane
from drivers.contract import CounterStore, EventLogReader, PartialRead, Point, Reading
from drivers.errors import AuthenticationFailed, DriverError, ObjectUnavailable, Unsupported
from drivers.registry import AnySettings, default_points, supported_obis
from headend.config.fleet import ReadingPlan, ReadingPolicy
from headend.reading.report import MeterReport, MeterStatus, PointFailure
from headend.reading.saving import RunFailed, Saver
from headend.store.base import ContactLog, ReadingSink

SettingsResolver = Callable[[str], AnySettings]
LOG = logging.getLogger(__name__)

FINAL_ERRORS = (AuthenticationFailed, ObjectUnavailable, Unsupported)
"""Refusals that a retry cannot change (and a wrong key would only burn invocation counters)."""


def reason_of(err: BaseException) -> str:
    """A one-line reason without the meter prefix (the report already names the meter)."""
    if isinstance(err, DriverError):
        return f"{err.kind}: {err.cause}"
    text = str(err).strip().replace("\n", "; ")
    return text or type(err).__name__


class MeterRead:
    """The state of reading one meter across attempts (and its place in the channel's queue)."""

    def __init__(
        self,
        meter_id: str,
        channel_id: str,
        plan: ReadingPlan,
        points: list[Point],
        window: tuple[datetime, datetime] | None,
        saver: Saver,
        *,
        events_window: tuple[datetime, datetime] | None = None,
    ) -> None:
        self.meter_id = meter_id
        self.channel_id = channel_id
        self.plan = plan
        self.remaining = list(points)
        self.profile_pending = plan.profile is not None and window is not None
        self.window = window
        # the event log: only when someone stores the events, and only on meters that keep one
        self.events_window = events_window if saver.events is not None else None
        self.last_event: datetime | None = None
        self.logs_pending = list(plan.event_logs) if self.events_window else []
        self.saver = saver
        self.failures: dict[str, str] = {}
        self.readings = 0
        self.stored = 0
        self.conflicts = 0
        self.last_capture: datetime | None = None
        self.attempts = 0
        self.skipped: list[str] = []
        self.settings: AnySettings | None = None
        self.last_error: BaseException | None = None
        self.not_before = 0.0  # loop time before which a retry must not start
        self.started = time.monotonic()

    def prepare(self, resolve: SettingsResolver) -> bool:
        """Resolve the settings and what to ask; False (error kept) for a config problem."""
        try:
            settings = resolve(self.meter_id)
            self.remaining, with_profile, self.skipped = applicable(
                self.plan, self.remaining, settings
            )
        except Exception as exc:  # a config problem fails this meter only
            self.last_error = exc
            return False
        self.profile_pending = self.profile_pending and with_profile
        self.settings = settings
        return True

    async def keep(self, readings: list[Reading]) -> None:
        if readings:
            self.readings += len(readings)
            new, conflicts = await self.saver.save(readings)
            self.stored += new
            self.conflicts += conflicts

    async def attempt(
        self,
        channel: Channel,
        counters: CounterStore | None,
        budget_s: float,
        lane: Lane = "bulk",
    ) -> None:
        """One session through the channel; raises the error that ended it early (after keeping
        what was read). `BreakerOpen` when the channel is down (no attempt is counted)."""
        assert self.settings is not None
        self.attempts += 1
        entered = False
        try:
            async with channel.session(
                self.settings, meter_id=self.meter_id, counters=counters, lane=lane
            ) as session:
                entered = True
                try:
                    async with asyncio.timeout(budget_s):
                        if self.remaining:
                            await self._read_points(session.read)
                        if self.profile_pending and self.window is not None:
                            assert self.plan.profile is not None
                            rows = await session.read_profile(
                                Point(obis=self.plan.profile), self.window[0], self.window[1]
                            )
                            self.profile_pending = False
                            self._note_captures(rows)
                            await self.keep(rows)
                        if self.events_window is not None:
                            await self._read_events(session)
                except TimeoutError:
                    raise DriverError(
                        f"no result within the meter's budget of {budget_s:g} s",
                        meter=self.meter_id,
                    ) from None
        except BreakerOpen:
            if not entered:
                self.attempts -= 1  # refused before the wire: not an attempt on the meter
            raise

    async def _read_events(self, session: object) -> None:
        assert self.events_window is not None and self.saver.events is not None
        if not isinstance(session, EventLogReader):
            self.events_window = None  # Modbus and DL/T 645 meters keep no event log here
            return
        start, end = self.events_window
        while self.logs_pending:
            log = self.logs_pending[0]
            events = await session.read_events(Point(obis=log), start, end)
            if events:
                await self.saver.events(self.channel_id, events)
                latest = max(e.time for e in events)
                self.last_event = max(latest, self.last_event or latest)
            self.logs_pending.pop(0)
        self.events_window = None

    def _note_captures(self, rows: list[Reading]) -> None:
        times = [r.capture_time for r in rows if r.capture_time is not None]
        if times:
            latest = max(times)
            if self.last_capture is None or latest > self.last_capture:
                self.last_capture = latest

    async def _read_points(self, read: Callable[[list[Point]], Awaitable[list[Reading]]]) -> None:
        try:
            got = await read(self.remaining)
        except PartialRead as partial:
            await self.keep(partial.readings)
            done = {r.obis for r in partial.readings}
            for failure in partial.failures:
                if isinstance(failure, FINAL_ERRORS) and failure.obis:
                    self.failures[failure.obis] = reason_of(failure)
                    done.add(failure.obis)
            self.remaining = [p for p in self.remaining if p.obis not in done]
            if partial.fatal and self.remaining:
                raise _first_fatal(partial) from None
            for point in self.remaining:  # non-fatal failures without an OBIS-typed refusal
                self.failures[point.obis] = reason_of(_failure_for(partial, point.obis))
            self.remaining = []
            return
        await self.keep(got)
        self.remaining = []

    def finish(self, last_error: BaseException | None) -> list[PointFailure]:
        reason = reason_of(last_error) if last_error else "not read"
        for point in self.remaining:
            self.failures.setdefault(point.obis, reason)
        if self.profile_pending and self.plan.profile is not None:
            self.failures.setdefault(self.plan.profile, reason)
        if self.events_window is not None:
            for log in self.logs_pending:
                self.failures.setdefault(log, reason)
        return [PointFailure(obis=o, reason=r) for o, r in self.failures.items()]

    async def report(self, contacts: ContactLog | None) -> MeterReport:
        """The final report (and the meter's last contact, when an attempt was made)."""
        last_error = self.last_error
        failures = self.finish(last_error)
        if not failures:
            status = MeterStatus.OK
        elif self.readings:
            status = MeterStatus.PARTIAL
        else:
            status = MeterStatus.FAILED
        if contacts is not None and self.attempts:
            error = reason_of(last_error) if last_error else None
            try:
                await contacts.record_contact(
                    self.meter_id, at=datetime.now(UTC), ok=last_error is None, error=error
                )
            except Exception as exc:  # bookkeeping only: the readings matter more
                LOG.warning("meter %s: cannot record the contact: %s", self.meter_id, exc)
        return MeterReport(
            meter_id=self.meter_id,
            channel_id=self.channel_id,
            status=status,
            readings=self.readings,
            stored=self.stored,
            conflicts=self.conflicts,
            attempts=self.attempts,
            failures=failures,
            skipped=self.skipped,
            error=reason_of(last_error) if last_error else None,
            cause=cause_of(last_error) if last_error else None,
            duration_s=time.monotonic() - self.started,
            last_capture=self.last_capture,
            last_event=self.last_event,
        )


def _first_fatal(partial: PartialRead) -> DriverError:
    for failure in partial.failures:
        if not isinstance(failure, FINAL_ERRORS):
            return failure
    return partial


def _failure_for(partial: PartialRead, obis: str) -> DriverError:
    for failure in partial.failures:
        if failure.obis == obis:
            return failure
    return partial


def applicable(
    plan: ReadingPlan, points: list[Point], settings: AnySettings
) -> tuple[list[Point], bool, list[str]]:
    """What to ask this meter for: (points, read the profile?, skipped OBIS codes).

    A plan with neither points nor a profile means the meter's standard register set. With
    `plan.skip_unsupported`, points and a profile that the meter's driver can never provide are
    dropped (and returned as skipped); DLMS meters report None (unknown) and are always asked.
    """
    if not points and plan.profile is None:
        points = default_points(settings)
    supported = supported_obis(settings) if plan.skip_unsupported else None
    if supported is None:
        return points, plan.profile is not None, []
    keep = [p for p in points if p.obis in supported]
    skipped = [p.obis for p in points if p.obis not in supported]
    profile = plan.profile is not None and plan.profile in supported
    if plan.profile is not None and not profile:
        skipped.append(plan.profile)
    return keep, profile, skipped


def cause_of(err: BaseException) -> str:
    """The kind of a final error, for per-cause counts: a driver error's kind, else 'config'
    for a meter whose settings cannot be built, else 'error'."""
    from headend.config.errors import ConfigError

    if isinstance(err, DriverError):
        return err.kind
    if isinstance(err, ConfigError):
        return "config"
    return "error"


def backoff_delay(policy: ReadingPolicy, attempt: int) -> float:
    """Exponential backoff after the `attempt`-th failure (1-based), capped."""
    return float(min(policy.backoff_s * 2 ** (attempt - 1), policy.backoff_max_s))


async def read_meter(
    meter_id: str,
    channel_id: str,
    *,
    plan: ReadingPlan,
    points: list[Point],
    window: tuple[datetime, datetime] | None,
    policy: ReadingPolicy,
    resolve: SettingsResolver,
    sink: ReadingSink,
    contacts: ContactLog | None = None,
    counters: CounterStore | None = None,
    channel: Channel | None = None,
    lane: Lane = "bulk",
) -> MeterReport:
    """Read one meter with retries; never raises for a meter problem, reports it instead.

    Without a `channel`, the meter gets a channel of its own (an ad-hoc read of one device URL).
    Raises `RunFailed` when the sink (the store) refused readings until the end.
    """
    from headend.reading.executor import run_queue

    if channel is None:
        registry = ChannelRegistry(max_sessions=1, breaker=breaker_policy(policy))
        channel = registry.channel(ChannelSpec(channel_id))
    saver = Saver(sink)
    state = MeterRead(meter_id, channel_id, plan, points, window, saver)
    reports = await run_queue(
        [state],
        channel,
        policy=policy,
        resolve=resolve,
        contacts=contacts,
        counters=counters,
        lane=lane,
    )
    if not await saver.flush():
        kept = len(saver.unsaved)
        spool = saver.spool()
        where = f"; written to {spool}" if spool else ""
        raise RunFailed(
            f"the store failed ({saver.last_error}): {kept} readings of meter {meter_id} "
            f"were not saved{where}",
            kept=kept,
            spool=spool,
            report=reports[0],
        )
    return reports[0]


def breaker_policy(policy: ReadingPolicy) -> BreakerPolicy:
    return BreakerPolicy(
        failures=policy.breaker_failures,
        backoff_s=policy.breaker_backoff_s,
        backoff_max_s=policy.breaker_backoff_max_s,
    )

"""Read one meter for a job: open a session, read the plan's points and profile, retry with backoff.

Every reading obtained goes to the sink at once, so nothing already read is lost when a later
request or attempt fails. A retry asks only for what is still missing. Refusals by the meter
(object unavailable, unsupported) and failed authentication are final: repeating them cannot help
(and a wrong key would only burn invocation counters). Each attempt runs under a hang guard
(`policy.meter_budget_s`) on top of the driver's own per-reply deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from drivers.contract import CounterStore, PartialRead, Point, Reading
from drivers.errors import AuthenticationFailed, DriverError, ObjectUnavailable, Unsupported
from drivers.registry import AnySettings, default_points, open_meter_session, supported_obis
from headend.config.fleet import ReadingPlan, ReadingPolicy
from headend.reading.report import MeterReport, MeterStatus, PointFailure
from headend.store.base import ContactLog, ReadingSink

SettingsResolver = Callable[[str], AnySettings]
LOG = logging.getLogger(__name__)

_FINAL = (AuthenticationFailed, ObjectUnavailable, Unsupported)


def reason_of(err: BaseException) -> str:
    """A one-line reason without the meter prefix (the report already names the meter)."""
    if isinstance(err, DriverError):
        return f"{err.kind}: {err.cause}"
    text = str(err).strip().replace("\n", "; ")
    return text or type(err).__name__


class MeterRead:
    """The state of reading one meter across attempts."""

    def __init__(
        self,
        meter_id: str,
        channel_id: str,
        plan: ReadingPlan,
        points: list[Point],
        window: tuple[datetime, datetime] | None,
        sink: ReadingSink,
    ) -> None:
        self.meter_id = meter_id
        self.channel_id = channel_id
        self.plan = plan
        self.remaining = list(points)
        self.profile_pending = plan.profile is not None and window is not None
        self.window = window
        self.sink = sink
        self.failures: dict[str, str] = {}
        self.readings = 0
        self.stored = 0

    async def keep(self, readings: list[Reading]) -> None:
        if readings:
            self.readings += len(readings)
            self.stored += await self.sink.save_readings(readings)

    async def attempt(
        self, settings: AnySettings, counters: CounterStore | None, budget_s: float
    ) -> None:
        """One session; raises the error that ended it early (after keeping what was read)."""
        try:
            async with asyncio.timeout(budget_s):
                session = await open_meter_session(
                    settings, meter_id=self.meter_id, counters=counters
                )
                async with session:
                    if self.remaining:
                        await self._read_points(session.read)
                    if self.profile_pending and self.window is not None:
                        assert self.plan.profile is not None
                        rows = await session.read_profile(
                            Point(obis=self.plan.profile), self.window[0], self.window[1]
                        )
                        self.profile_pending = False
                        await self.keep(rows)
        except TimeoutError:
            raise DriverError(
                f"no result within the meter's budget of {budget_s:g} s", meter=self.meter_id
            ) from None

    async def _read_points(self, read: Callable[[list[Point]], Awaitable[list[Reading]]]) -> None:
        try:
            got = await read(self.remaining)
        except PartialRead as partial:
            await self.keep(partial.readings)
            done = {r.obis for r in partial.readings}
            for failure in partial.failures:
                if isinstance(failure, _FINAL) and failure.obis:
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
        return [PointFailure(obis=o, reason=r) for o, r in self.failures.items()]


def _first_fatal(partial: PartialRead) -> DriverError:
    for failure in partial.failures:
        if not isinstance(failure, _FINAL):
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
) -> MeterReport:
    """Read one meter with retries; never raises for a meter problem, reports it instead."""
    started = time.monotonic()
    state = MeterRead(meter_id, channel_id, plan, points, window, sink)
    last_error: BaseException | None = None
    attempts = 0
    skipped: list[str] = []
    try:
        settings = resolve(meter_id)
        state.remaining, with_profile, skipped = applicable(plan, points, settings)
        state.profile_pending = state.profile_pending and with_profile
    except Exception as exc:  # a config problem fails this meter only
        last_error = exc
    else:
        while True:
            attempts += 1
            try:
                await state.attempt(settings, counters, policy.meter_budget_s)
                last_error = None
                break
            except DriverError as err:
                last_error = err
                if isinstance(err, _FINAL) or attempts > policy.retries:
                    break
            except Exception as exc:  # a driver bug: fail this meter, keep the others going
                LOG.exception("meter %s: unexpected error", meter_id)
                last_error = exc
                break
            await asyncio.sleep(backoff_delay(policy, attempts))
    failures = state.finish(last_error)
    if not failures:
        status = MeterStatus.OK
    elif state.readings:
        status = MeterStatus.PARTIAL
    else:
        status = MeterStatus.FAILED
    if contacts is not None and attempts:
        error = reason_of(last_error) if last_error else None
        await contacts.record_contact(
            meter_id, at=datetime.now(UTC), ok=last_error is None, error=error
        )
    return MeterReport(
        meter_id=meter_id,
        channel_id=channel_id,
        status=status,
        readings=state.readings,
        stored=state.stored,
        attempts=attempts,
        failures=failures,
        skipped=skipped,
        error=reason_of(last_error) if last_error else None,
        cause=cause_of(last_error) if last_error else None,
        duration_s=time.monotonic() - started,
    )

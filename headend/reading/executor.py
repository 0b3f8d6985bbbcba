"""Executors run channel jobs. The in-process one runs them on this event loop, through channels.

The interface is one coroutine, `run(job, progress)`, so a queue-backed executor (jobs sent to
other head-end nodes) can replace it without touching the reading service.

`run_queue` is the channel's queue of meters: a few workers (the channel's capacity) take the
first meter whose retry time has come, make one attempt through the channel (which takes the turn
for that attempt only), and put a failed meter at the BACK of the queue with a not-before time;
a worker with nothing ready waits without holding anything. When the channel's breaker is open,
every meter still queued is reported at once with the breaker's "channel down".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from drivers.channel import BreakerOpen, Channel, ChannelRegistry, ChannelSpec, Lane
from drivers.contract import CounterStore, Point
from drivers.errors import DriverError
from headend.config.fleet import ReadingPolicy
from headend.reading.jobs import ChannelJob
from headend.reading.meter import (
    FINAL_ERRORS,
    MeterRead,
    SettingsResolver,
    backoff_delay,
    breaker_policy,
)
from headend.reading.report import ChannelReport, MeterReport
from headend.reading.saving import Saver
from headend.store.base import ContactLog, ReadingSink

Progress = Callable[[MeterReport], None]
"""Called once per meter as soon as its outcome is known."""

LOG = logging.getLogger(__name__)


class JobExecutor(Protocol):
    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport: ...


def job_channel_spec(job: ChannelJob) -> ChannelSpec:
    """A channel spec from the job alone (no segment or rate limit known)."""
    return ChannelSpec(job.channel_id, capacity=job.concurrency, half_duplex=job.concurrency == 1)


class InProcessExecutor:
    """Runs a job's meters on this loop through the job's channel in `channels`."""

    def __init__(
        self,
        resolve: SettingsResolver,
        sink: ReadingSink,
        *,
        contacts: ContactLog | None = None,
        counters: CounterStore | None = None,
        channels: ChannelRegistry | None = None,
        channel_spec: Callable[[ChannelJob], ChannelSpec] = job_channel_spec,
        saver: Saver | None = None,
    ) -> None:
        self._resolve = resolve
        self._contacts = contacts
        self._counters = counters
        self.channels = channels
        self._spec = channel_spec
        self.saver = saver or Saver(sink)

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        if self.channels is None:
            self.channels = ChannelRegistry(breaker=breaker_policy(job.policy))
        channel = self.channels.channel(self._spec(job))
        points = [Point(obis=obis) for obis in job.plan.points]
        window = (
            (job.profile_start, job.profile_end)
            if job.profile_start is not None and job.profile_end is not None
            else None
        )
        starts = job.profile_starts or {}
        states = [
            MeterRead(
                meter_id,
                job.channel_id,
                job.plan,
                points,
                (starts[meter_id], window[1]) if window and meter_id in starts else window,
                self.saver,
                events_window=job.event_window(meter_id),
            )
            for meter_id in job.meter_ids
        ]
        reports = await run_queue(
            states,
            channel,
            policy=job.policy,
            resolve=self._resolve,
            contacts=self._contacts,
            counters=self._counters,
            lane=job.lane,
            workers=job.concurrency,
            progress=progress,
        )
        return ChannelReport(job_id=job.job_id, channel_id=job.channel_id, meters=reports)


async def run_queue(
    states: Sequence[MeterRead],
    channel: Channel,
    *,
    policy: ReadingPolicy,
    resolve: SettingsResolver,
    contacts: ContactLog | None = None,
    counters: CounterStore | None = None,
    lane: Lane = "bulk",
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[MeterReport]:
    """Read every meter of `states` through `channel`; reports in the order of `states`."""
    loop = asyncio.get_running_loop()
    reports: dict[int, MeterReport] = {}
    queue: deque[MeterRead] = deque()
    changed = asyncio.Event()
    in_flight = 0

    async def finish(state: MeterRead) -> None:
        report = await state.report(contacts)
        reports[id(state)] = report
        if progress is not None:
            progress(report)

    async def drain(refusal: BreakerOpen) -> None:
        while queue:
            state = queue.popleft()
            state.last_error = refusal
            await finish(state)

    def ready(now: float) -> MeterRead | None:
        for state in queue:  # fresh meters first; retries were appended behind them
            if state.not_before <= now:
                queue.remove(state)
                return state
        return None

    async def attempt(state: MeterRead) -> None:
        try:
            await state.attempt(channel, counters, policy.meter_budget_s, lane)
        except BreakerOpen as refusal:
            state.last_error = refusal
            await finish(state)
            await drain(refusal)
            return
        except DriverError as err:
            state.last_error = err
            if isinstance(err, FINAL_ERRORS) or state.attempts > policy.retries:
                await finish(state)
            else:
                state.not_before = loop.time() + backoff_delay(policy, state.attempts)
                queue.append(state)
            opened = channel.down()
            if opened is not None:  # this failure opened the breaker
                await drain(opened)
            return
        except Exception as exc:  # a driver bug: fail this meter, keep the others going
            LOG.exception("meter %s: unexpected error", state.meter_id)
            state.last_error = exc
            await finish(state)
            return
        state.last_error = None
        await finish(state)

    async def worker() -> None:
        nonlocal in_flight
        while queue or in_flight:
            if not queue:
                changed.clear()
                await changed.wait()
                continue
            state = ready(loop.time())
            if state is None:
                delay = min(s.not_before for s in queue) - loop.time()
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(delay, 0.0)):
                        await changed.wait()
                continue
            in_flight += 1
            try:
                await attempt(state)
            finally:
                in_flight -= 1
                changed.set()

    for state in states:
        if state.prepare(resolve):
            queue.append(state)
        else:
            await finish(state)
    refusal = channel.down()
    if refusal is not None:
        await drain(refusal)
    count = min(len(queue), max(1, workers or channel.turn.capacity))
    if count:
        await asyncio.gather(*(worker() for _ in range(count)))
    return [reports[id(state)] for state in states]

"""What a worker does with a job, decided without I/O: lease or not, ack, retry or dead letter.

A job fails *at the channel level* when the executor raised or when every meter failed with the
breaker's "channel down": the channel (modem, concentrator, serial line) was unusable, so the
job is worth retrying later, maybe from another worker. Meters failing for their own reasons
(a wrong key, a timeout on one meter) are a normal, reported outcome: the job is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport, MeterReport, MeterStatus

CHANNEL_DOWN = "channel down"
DEAD_LETTER_CAUSE = "dead letter"


def needs_lease(job: ChannelJob) -> bool:
    """A half-duplex channel (one session at a time) is leased; a TCP endpoint serving several
    sessions at once (concurrency > 1) may be read by several workers and is not."""
    return job.concurrency == 1


def nak_delay(backoff_s: Sequence[float], delivered: int) -> float:
    """The delay before redelivering a job that failed on its `delivered`-th delivery."""
    return backoff_s[min(max(delivered, 1), len(backoff_s)) - 1]


def channel_failure(report: ChannelReport) -> str | None:
    """Why the job failed at the channel level, or None if its outcome is final."""
    if report.meters and all(
        m.status is MeterStatus.FAILED and m.cause == CHANNEL_DOWN for m in report.meters
    ):
        errors = {m.error for m in report.meters if m.error}
        return f"{CHANNEL_DOWN}: {sorted(errors)[0]}" if errors else CHANNEL_DOWN
    return None


@dataclass(frozen=True)
class Ack:
    """Done (readings committed): publish the report, acknowledge."""


@dataclass(frozen=True)
class Retry:
    """Negative acknowledgement: JetStream redelivers after `delay_s`."""

    delay_s: float
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """The last delivery failed: to the dead-letter stream, a failed report, terminate."""

    reason: str


Settle = Ack | Retry | DeadLetter


def settle(
    failure: str | None, delivered: int, max_deliver: int, backoff_s: Sequence[float]
) -> Settle:
    """Ack a finished job; retry a failed one, or dead-letter it on its last delivery."""
    if failure is None:
        return Ack()
    if delivered >= max_deliver:
        return DeadLetter(f"{failure} (after {delivered} deliveries)")
    return Retry(nak_delay(backoff_s, delivered), failure)


def failed_report(job: ChannelJob, reason: str) -> ChannelReport:
    """The report a dead-lettered job sends back, so the scheduler is not left waiting."""
    return ChannelReport(
        job_id=job.job_id,
        channel_id=job.channel_id,
        meters=[
            MeterReport(
                meter_id=meter_id,
                channel_id=job.channel_id,
                status=MeterStatus.FAILED,
                error=reason,
                cause=DEAD_LETTER_CAUSE,
            )
            for meter_id in job.meter_ids
        ],
    )

"""Dead letters: jobs that failed at the channel level on every delivery, kept in their stream.

A worker publishes a `DeadLetter` to `headend.<site>.dead.<lane>` on a job's last delivery;
`dead_letters()` reads them back (for `headend status` and the tests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nats.js.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, Field

from headend.cluster import subjects
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.reading.jobs import ChannelJob

if TYPE_CHECKING:
    from headend.cluster.connection import Cluster


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job: ChannelJob | None = Field(description="None when the message was not a readable job")
    raw: str | None = Field(default=None, description="the start of an unreadable message")
    lane: str
    reason: str
    deliveries: int
    worker_id: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def msg_id(self) -> str | None:
        return f"dead-{self.job.job_id}" if self.job is not None else None


async def publish_dead_letter(cluster: Cluster, letter: DeadLetter) -> None:
    await cluster.js.publish(
        subjects.dead(cluster.site, letter.lane),
        letter.model_dump_json().encode(),
        stream=cluster.settings.dead_letter_stream,
        # a worker dying between this publish and the term republishes the same letter
        headers={"Nats-Msg-Id": letter.msg_id} if letter.msg_id else None,
    )


async def dead_letters(cluster: Cluster, *, limit: int = 1000) -> list[DeadLetter]:
    """The latest `limit` dead letters of the site, oldest first."""
    stream = cluster.settings.dead_letter_stream
    state = (await cluster.js.stream_info(stream)).state
    if state.messages == 0:
        return []
    letters: list[DeadLetter] = []
    for seq in range(max(state.first_seq, state.last_seq - limit + 1), state.last_seq + 1):
        try:
            msg = await cluster.js.get_msg(stream, seq)
        except NotFoundError:  # deleted from the stream
            continue
        if msg.data:
            letters.append(DeadLetter.model_validate_json(msg.data))
    return letters


def dead_letter_event(
    job: ChannelJob,
    reason: str,
    *,
    at: datetime | None = None,
    code: int = HeadendEvent.JOB_DEAD_LETTER,
) -> Event:
    """The head-end event for a dead-lettered job (one per channel job), for `on_dead_letter`;
    `reason` says how many deliveries it had."""
    when = at or datetime.now(UTC)
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=None,
        channel_id=job.channel_id,
        code=code,
        name="job_dead_letter",
        text=f"channel job {job.job_id} on channel {job.channel_id} ({len(job.meter_ids)} meters, "
        f"plan {job.plan.name}) dead-lettered: {reason}",
        time=when,
        received_at=when,
        source=f"cluster job {job.job_id}",
        cause="dead letter",
    )

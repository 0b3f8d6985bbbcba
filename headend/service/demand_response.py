"""Demand-response events given at run time: the control socket's request, and the checks an
event must pass before it is stored (by the running service, or by `headend dr` when no service
runs): its target exists in the fleet file's `[load]` section, and its version is newer than a
version of the same id scheduled there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from headend.config.load import DemandResponseEvent, LoadSettings
from headend.store.base import StaleDemandResponse


class DemandResponseRequest(BaseModel):
    """The control socket's `demand_response` op: a version to store and apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: DemandResponseEvent
    requester: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=1000)


def check_event(settings: LoadSettings | None, event: DemandResponseEvent) -> None:
    """Raise ValueError (naming the event's field) for an event the fleet cannot apply, and
    `StaleDemandResponse` for a version the fleet file's own schedule already supersedes."""
    if settings is None or not settings.feeders:
        raise ValueError("the fleet file has no [load] feeders: no demand response to apply")
    # The section's own cross-reference checks, on this event alone: the same rules and words
    # as for an event scheduled in the file.
    probe = settings.model_copy(update={"demand_response": [event]})
    prefix = "demand_response[0]."
    for path, reason in probe.problems():
        if path.startswith(prefix):
            raise ValueError(f"{path.removeprefix(prefix)}: {reason}")
    configured = max(
        (known.version for known in settings.demand_response if known.id == event.id),
        default=None,
    )
    if configured is not None and event.version <= configured:
        raise StaleDemandResponse(
            f"demand-response event {event.id!r}: version {event.version} is not newer than "
            f"version {configured} in the fleet file's [load] section (send version "
            f"{configured + 1})"
        )


def configured_events(settings: LoadSettings | None) -> dict[str, DemandResponseEvent]:
    """The newest version of each event the fleet file schedules."""
    newest: dict[str, DemandResponseEvent] = {}
    for event in settings.demand_response if settings is not None else ():
        known = newest.get(event.id)
        if known is None or event.version > known.version:
            newest[event.id] = event
    return newest

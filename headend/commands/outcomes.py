"""How a final command is told: its one log line, and the head-end event of a command that
failed or expired (so an operator watching events, not the audit, sees it too)."""

from __future__ import annotations

from datetime import datetime

from headend.commands.model import CommandRecord, CommandState
from headend.events.model import Event, EventOrigin, HeadendEvent


def final_line(record: CommandRecord) -> str:
    """The one log line of a final command."""
    what = record.action.value
    if record.limit_w is not None:
        what += f" {format(record.limit_w, 'f')} W"
    if record.tariff is not None:
        what += f" {record.tariff}"
    return (
        f"command {record.id}: {what} on {record.target} by {record.requester}: "
        f"{record.state.value} after {record.attempts} attempt(s): {record.detail}"
    )


def event_of(record: CommandRecord, now: datetime) -> Event:
    """The head-end event of a failed or expired meter command, stamped `now` (service clock)."""
    failed = record.state is CommandState.FAILED
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=record.meter,
        code=int(HeadendEvent.COMMAND_FAILED if failed else HeadendEvent.COMMAND_EXPIRED),
        name="command_failed" if failed else "command_expired",
        text=(
            f"command {record.id} ({record.action.value}) by {record.requester}: "
            f"{record.state.value}: {record.detail}"
        ),
        time=now,
        received_at=now,
        source=f"command {record.id}",
        cause=record.detail[:200] or None,
    )

"""One attempt of one command: the driver's `Command` for an action, sent on the priority lane of
the meter's channel (served before bulk reading queued on it), and what its outcome means.

The drivers confirm by reading the state back, so `ok` is the meter's state, not its answer. A
refusal (the meter said no, or cannot do it) is final; a channel failure (timeout, channel down,
breaker open) leaves the outcome unknown and is retried by the caller while the expiry allows.
"""

from __future__ import annotations

from datetime import datetime

from drivers.channel import ChannelRegistry
from drivers.contract import Command, CommandKind, CommandResult, CounterStore
from drivers.errors import (
    AuthenticationFailed,
    CommandRejected,
    ObjectUnavailable,
    Unsupported,
)
from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.config.loader import HeadendConfig
from headend.reading.channels import channel_spec
from headend.reading.meter import SettingsResolver

FINAL_ERRORS = (AuthenticationFailed, CommandRejected, ObjectUnavailable, Unsupported)
"""Errors a retry cannot change (and a wrong key would only burn invocation counters)."""

_KINDS = {
    CommandAction.DISCONNECT: CommandKind.DISCONNECT,
    CommandAction.RECONNECT: CommandKind.RECONNECT,
    CommandAction.LIMIT: CommandKind.SET_LOAD_LIMIT,
    CommandAction.RELEASE: CommandKind.CLEAR_LOAD_LIMIT,
    CommandAction.SYNC: CommandKind.TIME_SYNC,
    CommandAction.TARIFF: CommandKind.SET_TARIFF,
}


def driver_command(record: CommandRecord, now: datetime) -> Command:
    """The driver's command for a record; `now` (service clock) is the time a sync sets and a
    lease starts at."""
    kind = _KINDS[record.action]
    if kind is CommandKind.SET_LOAD_LIMIT:
        return Command(
            id=record.id,
            kind=kind,
            limit_w=record.limit_w,
            lease_s=record.lease_s,
            time=now if record.lease_s is not None else None,
        )
    if kind is CommandKind.TIME_SYNC:
        return Command(id=record.id, kind=kind, time=now)
    if kind is CommandKind.SET_TARIFF:
        return Command(id=record.id, kind=kind, tariff=record.tariff)
    return Command(id=record.id, kind=kind)


def outcome(result: CommandResult) -> CommandState:
    if not result.ok:
        return CommandState.FAILED
    return CommandState.ARMED if getattr(result, "armed", False) else CommandState.CONFIRMED


async def send(
    config: HeadendConfig,
    channels: ChannelRegistry,
    counters: CounterStore,
    resolve: SettingsResolver,
    record: CommandRecord,
    now: datetime,
) -> CommandResult:
    """One attempt on the priority lane; raises what the channel or driver raises."""
    assert record.meter is not None, "only a meter's command is sent"
    fleet = config.fleet
    meter = fleet.meter(record.meter)
    channel = channels.channel(channel_spec(fleet, meter.channel))
    settings = resolve(record.meter)
    async with channel.session(
        settings, meter_id=record.meter, counters=counters, lane="priority"
    ) as session:
        return await session.execute(driver_command(record, now))

"""Two-way commands over DLMS: disconnect control (class 70), limiter (class 71), clock (class 8),
activity calendar (class 20).

Every command is confirmed by reading back what it changed, so `ok` means "the meter is now in
the commanded state", not merely "the meter said yes":

- disconnect / reconnect: output_state; when a reconnect leaves the output open, control_state
  tells whether the meter only armed it (2, ready_for_reconnection: the customer must press the
  button, as control modes 1, 3, 5 and 6 require): then `ok=True, armed=True`.
- set_load_limit without a lease: threshold_normal, confirmed by threshold_active (or by
  threshold_normal when the meter leaves threshold_active null). With `lease_s`: the emergency
  profile, so that the meter itself drops the limit when the lease ends: threshold_emergency,
  emergency_profile_group_id_list [1] and emergency_profile {id 1, activation = the command's
  `time`, else now on the meter's own clock (read first: a meter whose clock is off, or a
  simulated one running faster, still leases for lease_s from now; UTC now if the clock cannot
  be read), duration = lease_s}, confirmed by threshold_active. Sending it again with a new
  activation time renews the lease.
- clear_load_limit: threshold_normal to the largest value (class 71 has no "off") and the
  emergency profile ended (an empty group id list, threshold_emergency the largest value; a
  meter without them keeps only the normal threshold), confirmed by threshold_active.
- set_tariff: calendar_name_passive, then ACTION activate_passive_calendar, confirmed by
  calendar_name_active.

A refusal by the meter gives `ok=False` with the reason; a failure of the channel (timeout,
closed connection) raises, because then nobody knows whether the command took effect and the
command service must decide whether to retry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from drivers.contract import Command, CommandKind, CommandResult
from drivers.dlms.client import axdr, objects
from drivers.dlms.client.cosem_values import as_datetime, encode_datetime
from drivers.errors import CommandRejected, DriverError, MalformedFrame, ObjectUnavailable

if TYPE_CHECKING:
    from drivers.dlms.client.session import DlmsSession

# class 71 has no "off": clearing a limit sets the threshold to the largest value it can hold
NO_LIMIT = 0xFFFFFFFF
CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far behind the head-end's a meter's clock may be for a leased limit to apply at once."""
EMERGENCY_PROFILE_ID = 1


class _Outcome(NamedTuple):
    ok: bool
    detail: str
    armed: bool = False


async def execute(session: DlmsSession, command: Command) -> CommandResult:
    try:
        outcome = await _run(session, command)
    except (CommandRejected, ObjectUnavailable) as err:
        outcome = _Outcome(False, str(err))
    except DriverError as err:
        raise err.about(meter=session.meter_id) from None
    return CommandResult(
        command_id=command.id,
        meter_id=session.meter_id,
        ok=outcome.ok,
        armed=outcome.armed,
        detail=outcome.detail,
        completed_at=datetime.now(UTC),
    )


async def _run(session: DlmsSession, command: Command) -> _Outcome:
    kind = command.kind
    if kind in (CommandKind.DISCONNECT, CommandKind.RECONNECT):
        return await _switch(session, connect=kind is CommandKind.RECONNECT)
    if kind is CommandKind.SET_LOAD_LIMIT:
        if command.limit_w is None:
            return _Outcome(False, "set_load_limit needs limit_w")
        limit_w = int(command.limit_w.to_integral_value())
        if command.lease_s is None:
            return await _limit(session, limit_w)
        start = _instant(command.time) if command.time else await _meter_now(session)
        return await _leased_limit(session, limit_w, command.lease_s, start)
    if kind is CommandKind.CLEAR_LOAD_LIMIT:
        return await _clear(session)
    if kind is CommandKind.SET_TARIFF:
        if not command.tariff:
            return _Outcome(False, "set_tariff needs the tariff (calendar) name")
        return await _tariff(session, command.tariff)
    if kind is CommandKind.TIME_SYNC:
        when = _instant(command.time)
        await session.set(
            objects.CLOCK,
            objects.CLOCK_OBIS,
            objects.VALUE_ATTRIBUTE,
            axdr.octet_string(encode_datetime(when)),
        )
        return _Outcome(True, f"clock set to {when.isoformat()}")
    return _Outcome(False, f"command {kind} is not supported by the DLMS driver")


def _instant(when: datetime | None) -> datetime:
    """`when` in UTC (a naive time taken as UTC), or now."""
    if when is None:
        return datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


async def _meter_now(session: DlmsSession) -> datetime:
    try:
        value = await session.get(objects.CLOCK, objects.CLOCK_OBIS, objects.VALUE_ATTRIBUTE)
    except (CommandRejected, ObjectUnavailable):
        return datetime.now(UTC)
    try:
        return as_datetime(value)[0]
    except MalformedFrame:  # the frame was fine, the clock value is not one instant
        return datetime.now(UTC)


async def _switch(session: DlmsSession, *, connect: bool) -> _Outcome:
    method = objects.REMOTE_RECONNECT if connect else objects.REMOTE_DISCONNECT
    await session.action(
        objects.DISCONNECT_CONTROL,
        objects.DISCONNECT_OBIS,
        method,
        axdr.integer(axdr.INTEGER, 0),
    )
    state = await session.get(
        objects.DISCONNECT_CONTROL, objects.DISCONNECT_OBIS, objects.DISCONNECT_OUTPUT_STATE
    )
    wanted = "connected" if connect else "disconnected"
    if not isinstance(state, bool):
        return _Outcome(False, f"output_state is {state!r}, not a boolean")
    if state is connect:
        return _Outcome(True, f"output {wanted}")
    if connect:
        # a reconnect may only arm the switch until the customer presses the button
        control = await session.get(
            objects.DISCONNECT_CONTROL, objects.DISCONNECT_OBIS, objects.DISCONNECT_CONTROL_STATE
        )
        if control == objects.CONTROL_STATE_READY_FOR_RECONNECTION:
            return _Outcome(
                True,
                "reconnect armed (ready_for_reconnection): awaiting the customer's button",
                armed=True,
            )
    return _Outcome(False, f"meter accepted the command but the output is not {wanted}")


async def _limit(session: DlmsSession, limit_w: int) -> _Outcome:
    if not 0 <= limit_w <= NO_LIMIT:
        return _Outcome(False, f"limit {limit_w} W does not fit the threshold")
    # threshold_normal is the limit in force outside emergencies; reading back threshold_active
    # confirms the meter actually applies it (an emergency limit would show through)
    await _set_threshold(session, objects.LIMITER_THRESHOLD_NORMAL, limit_w)
    return await _confirm(session, limit_w, objects.LIMITER_THRESHOLD_NORMAL)


async def _leased_limit(
    session: DlmsSession, limit_w: int, lease_s: int, activation: datetime
) -> _Outcome:
    if not 0 <= limit_w <= NO_LIMIT:
        return _Outcome(False, f"limit {limit_w} W does not fit the threshold")
    if lease_s > NO_LIMIT:
        return _Outcome(False, f"lease {lease_s} s does not fit the emergency duration")
    await _set_threshold(session, objects.LIMITER_THRESHOLD_EMERGENCY, limit_w)
    await _set_groups(session, [EMERGENCY_PROFILE_ID])
    # The window opens CLOCK_TOLERANCE early and lasts as much longer, so it ends when asked: a
    # meter whose clock is a little behind the head-end's applies the limit at once, instead of
    # holding a window that has not begun on its clock (and failing the read-back below).
    opens = activation - CLOCK_TOLERANCE
    duration = lease_s + int(CLOCK_TOLERANCE.total_seconds())
    profile = axdr.structure(
        axdr.integer(axdr.LONG_UNSIGNED, EMERGENCY_PROFILE_ID),
        axdr.octet_string(encode_datetime(opens)),
        axdr.integer(axdr.DOUBLE_LONG_UNSIGNED, min(duration, NO_LIMIT)),
    )
    await session.set(
        objects.LIMITER, objects.LIMITER_OBIS, objects.LIMITER_EMERGENCY_PROFILE, profile
    )
    outcome = await _confirm(session, limit_w, objects.LIMITER_THRESHOLD_EMERGENCY)
    if not outcome.ok:
        return outcome
    until = activation.timestamp() + lease_s
    return _Outcome(
        True,
        f"limit {limit_w} W active, leased for {lease_s} s "
        f"until {datetime.fromtimestamp(until, UTC).isoformat()}",
    )


async def _clear(session: DlmsSession) -> _Outcome:
    await _set_threshold(session, objects.LIMITER_THRESHOLD_NORMAL, NO_LIMIT)
    try:
        await _set_groups(session, [])
        await _set_threshold(session, objects.LIMITER_THRESHOLD_EMERGENCY, NO_LIMIT)
    except (CommandRejected, ObjectUnavailable):
        pass  # a limiter without emergency profiles: the read-back below tells what is in force
    return await _confirm(session, NO_LIMIT, objects.LIMITER_THRESHOLD_NORMAL)


async def _set_threshold(session: DlmsSession, attribute: int, watts: int) -> None:
    data = axdr.integer(axdr.DOUBLE_LONG_UNSIGNED, watts)
    await session.set(objects.LIMITER, objects.LIMITER_OBIS, attribute, data)


async def _set_groups(session: DlmsSession, ids: list[int]) -> None:
    data = axdr.array([axdr.integer(axdr.LONG_UNSIGNED, i) for i in ids])
    await session.set(objects.LIMITER, objects.LIMITER_OBIS, objects.LIMITER_EMERGENCY_GROUPS, data)


async def _confirm(session: DlmsSession, limit_w: int, written: int) -> _Outcome:
    """Read threshold_active back; a meter that leaves it null-data (Gurux's class 71 only
    stores what it is given) does not report the limit in force: confirm what it keeps."""
    value = await session.get(
        objects.LIMITER, objects.LIMITER_OBIS, objects.LIMITER_THRESHOLD_ACTIVE
    )
    checked = "threshold_active"
    if value is None:
        checked = (
            "threshold_normal"
            if written == objects.LIMITER_THRESHOLD_NORMAL
            else ("threshold_emergency")
        )
        value = await session.get(objects.LIMITER, objects.LIMITER_OBIS, written)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _Outcome(False, f"{checked} reads back as {value!r}")
    if Decimal(value) != Decimal(limit_w):
        return _Outcome(False, f"{checked} reads back as {value}, not {limit_w}")
    return _Outcome(True, "limit cleared" if limit_w == NO_LIMIT else f"limit {limit_w} W active")


async def _tariff(session: DlmsSession, name: str) -> _Outcome:
    wanted = name.encode("utf-8")
    await session.set(
        objects.ACTIVITY_CALENDAR,
        objects.CALENDAR_OBIS,
        objects.CALENDAR_NAME_PASSIVE,
        axdr.octet_string(wanted),
    )
    await session.action(
        objects.ACTIVITY_CALENDAR,
        objects.CALENDAR_OBIS,
        objects.ACTIVATE_PASSIVE_CALENDAR,
        axdr.integer(axdr.INTEGER, 0),
    )
    active = await session.get(
        objects.ACTIVITY_CALENDAR, objects.CALENDAR_OBIS, objects.CALENDAR_NAME_ACTIVE
    )
    if isinstance(active, str):
        active = active.encode("utf-8")
    if active != wanted:
        return _Outcome(False, f"calendar_name_active reads back as {active!r}, not {wanted!r}")
    return _Outcome(True, f"tariff programme {name} active")

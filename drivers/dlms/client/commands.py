"""Two-way commands over DLMS: disconnect control (class 70), limiter (class 71), clock (class 8).

Every command is confirmed by reading back what it changed (output_state, threshold_active, or
threshold_normal when the meter leaves threshold_active null), so
`ok` means "the meter is now in the commanded state", not merely "the meter said yes".
A refusal by the meter gives `ok=False` with the reason; a failure of the channel (timeout,
closed connection) raises, because then nobody knows whether the command took effect and the
command service must decide whether to retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from drivers.contract import Command, CommandKind, CommandResult
from drivers.dlms.client import axdr, objects
from drivers.dlms.client.cosem_values import encode_datetime
from drivers.errors import CommandRejected, DriverError, ObjectUnavailable

if TYPE_CHECKING:
    from drivers.dlms.client.session import DlmsSession

# class 71 has no "off": clearing a limit sets the threshold to the largest value it can hold
NO_LIMIT = 0xFFFFFFFF


async def execute(session: DlmsSession, command: Command) -> CommandResult:
    try:
        ok, detail = await _run(session, command)
    except (CommandRejected, ObjectUnavailable) as err:
        ok, detail = False, str(err)
    except DriverError as err:
        raise err.about(meter=session.meter_id) from None
    return CommandResult(
        command_id=command.id,
        meter_id=session.meter_id,
        ok=ok,
        detail=detail,
        completed_at=datetime.now(UTC),
    )


async def _run(session: DlmsSession, command: Command) -> tuple[bool, str]:
    if command.kind in (CommandKind.DISCONNECT, CommandKind.RECONNECT):
        return await _switch(session, connect=command.kind is CommandKind.RECONNECT)
    if command.kind is CommandKind.SET_LOAD_LIMIT:
        if command.limit_w is None:
            return False, "set_load_limit needs limit_w"
        return await _limit(session, int(command.limit_w.to_integral_value()))
    if command.kind is CommandKind.CLEAR_LOAD_LIMIT:
        return await _limit(session, NO_LIMIT)
    if command.kind is CommandKind.TIME_SYNC:
        when = command.time or datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        await session.set(
            objects.CLOCK,
            objects.CLOCK_OBIS,
            objects.VALUE_ATTRIBUTE,
            axdr.octet_string(encode_datetime(when)),
        )
        return True, f"clock set to {when.astimezone(UTC).isoformat()}"
    return False, f"command {command.kind} is not supported by the DLMS driver"


async def _switch(session: DlmsSession, *, connect: bool) -> tuple[bool, str]:
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
        return False, f"output_state is {state!r}, not a boolean"
    if state is connect:
        return True, f"output {wanted}"
    # a reconnect may only arm the switch (ready_for_reconnection) until the customer presses it
    return False, f"meter accepted the command but the output is not {wanted}"


async def _limit(session: DlmsSession, limit_w: int) -> tuple[bool, str]:
    if not 0 <= limit_w <= NO_LIMIT:
        return False, f"limit {limit_w} W does not fit the threshold"
    # threshold_normal is the limit in force outside emergencies; reading back threshold_active
    # confirms the meter actually applies it (an emergency limit would show through)
    await session.set(
        objects.LIMITER,
        objects.LIMITER_OBIS,
        objects.LIMITER_THRESHOLD_NORMAL,
        axdr.integer(axdr.DOUBLE_LONG_UNSIGNED, limit_w),
    )
    value = await session.get(
        objects.LIMITER, objects.LIMITER_OBIS, objects.LIMITER_THRESHOLD_ACTIVE
    )
    checked = "threshold_active"
    if value is None:
        # a limiter that leaves threshold_active null-data (Gurux's class 71 only stores what
        # it is given) does not report the limit in force: confirm what it keeps instead
        checked = "threshold_normal"
        value = await session.get(
            objects.LIMITER, objects.LIMITER_OBIS, objects.LIMITER_THRESHOLD_NORMAL
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False, f"{checked} reads back as {value!r}"
    if Decimal(value) != Decimal(limit_w):
        return False, f"{checked} reads back as {value}, not {limit_w}"
    return True, "limit cleared" if limit_w == NO_LIMIT else f"limit {limit_w} W active"

"""Commands, their audit entries and the load manager's cycles as store rows and back, for both
backends (which differ only in how a time is stored: see `records.py`).

A command's action parameters (limit, lease, tariff) are one JSON object, `params`, so a new
action needs no new column; the decimal limit is kept as its exact text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from headend.commands.model import AuditEntry, CommandAction, CommandRecord, CommandState
from headend.load.metrics import LoadCycle
from headend.store.records import FromStored, ToStored

COMMAND_COLUMNS = (
    "id, parent, meter, group_id, action, params, reason, requester, priority, created_at, "
    "expires_at, state, attempts, detail, updated_at"
)
COMMAND_FIELDS = [column.strip() for column in COMMAND_COLUMNS.split(",")]
AUDIT_COLUMNS = "seq, at, command_id, meter, action, actor, state, detail"
CYCLE_COLUMNS = (
    "feeder, at, load_kw, capacity_kw, forecast_kw, limit_kw_total, overloaded, overload_s, "
    "served_kwh, demanded_kwh, fairness, limited, disconnected, limit_changes, infeasible, report"
)
CYCLE_FIELDS = [column.strip() for column in CYCLE_COLUMNS.split(",")]


def params_json(record: CommandRecord) -> str:
    params: dict[str, Any] = {}
    if record.limit_w is not None:
        params["limit_w"] = format(record.limit_w, "f")
    if record.lease_s is not None:
        params["lease_s"] = record.lease_s
    if record.tariff is not None:
        params["tariff"] = record.tariff
    return json.dumps(params, sort_keys=True)


def command_values(record: CommandRecord, stored: ToStored) -> tuple[Any, ...]:
    """The values of `COMMAND_COLUMNS` for a record (its expiry must be set)."""
    assert record.expires_at is not None, "a stored command has an expiry"
    return (
        record.id,
        record.parent,
        record.meter,
        record.group,
        record.action.value,
        params_json(record),
        record.reason,
        record.requester,
        record.priority,
        stored(record.created_at),
        stored(record.expires_at),
        record.state.value,
        record.attempts,
        record.detail,
        stored(record.updated_at),
    )


def row_command(row: Sequence[Any], time: FromStored) -> CommandRecord:
    """The record of a row selected with `COMMAND_COLUMNS`."""
    params = row[5] if isinstance(row[5], dict) else json.loads(row[5])
    limit = params.get("limit_w")
    return CommandRecord(
        id=row[0],
        parent=row[1],
        meter=row[2],
        group=row[3],
        action=CommandAction(row[4]),
        limit_w=None if limit is None else Decimal(limit),
        lease_s=params.get("lease_s"),
        tariff=params.get("tariff"),
        reason=row[6],
        requester=row[7],
        priority=row[8],
        created_at=time(row[9]),
        expires_at=time(row[10]),
        state=CommandState(row[11]),
        attempts=row[12],
        detail=row[13],
        updated_at=time(row[14]),
    )


def audit_values(record: CommandRecord, stored: ToStored) -> tuple[Any, ...]:
    """The audit row of a record's current state (all of `AUDIT_COLUMNS` but seq): who is the
    requester, when the record's `updated_at`."""
    return (
        stored(record.updated_at),
        record.id,
        record.meter,
        record.action.value,
        record.requester,
        record.state.value,
        record.detail,
    )


def row_audit(row: Sequence[Any], time: FromStored) -> AuditEntry:
    return AuditEntry(
        seq=row[0],
        at=time(row[1]),
        command_id=row[2],
        meter=row[3],
        action=CommandAction(row[4]),
        actor=row[5],
        state=CommandState(row[6]),
        detail=row[7],
    )


def cycle_values(cycle: LoadCycle, stored: ToStored) -> tuple[Any, ...]:
    values = cycle.model_dump()
    values["at"] = stored(cycle.at)
    return tuple(values[field] for field in CYCLE_FIELDS)


def row_cycle(row: Sequence[Any], time: FromStored) -> LoadCycle:
    values = dict(zip(CYCLE_FIELDS, row, strict=True))
    values["at"] = time(values["at"])
    values["overloaded"] = bool(values["overloaded"])
    values["infeasible"] = bool(values["infeasible"])
    return LoadCycle.model_validate(values)

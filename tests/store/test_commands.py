"""Commands and their audit log in the store (SQLite and PostgreSQL): a state change and its
audit row go together, a known id is not inserted twice, a final state is never overwritten."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.store import SqliteStore, Store, open_store
from headend.store.schema import SCHEMA_VERSION
from tests.store.old_schemas import sqlite_at_version
from tests.store.samples import T0


def record(command_id: str = "c1", **fields: object) -> CommandRecord:
    values: dict[str, object] = {
        "id": command_id,
        "meter": "m1",
        "action": CommandAction.LIMIT,
        "limit_w": Decimal("1500.5"),
        "lease_s": 900,
        "reason": "feeder 7 overload",
        "requester": "load-manager",
        "priority": 2,
        "expires_at": T0 + timedelta(minutes=5),
        "state": CommandState.QUEUED,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return CommandRecord.model_validate(values)


async def test_a_command_and_each_state_change_are_stored_with_their_audit_rows(
    store: Store,
) -> None:
    queued = record()
    assert await store.save_command(queued, new=True) == queued
    sent = queued.model_copy(
        update={"state": CommandState.SENT, "attempts": 1, "updated_at": T0 + timedelta(seconds=1)}
    )
    await store.save_command(sent)
    done = sent.model_copy(
        update={
            "state": CommandState.CONFIRMED,
            "detail": "limit 1500 W active",
            "updated_at": T0 + timedelta(seconds=2),
        }
    )
    await store.save_command(done)
    assert await store.command("c1") == done
    assert await store.command("nope") is None
    entries = await store.audit(command_id="c1")
    assert [(e.state, e.actor, e.at, e.meter, e.action) for e in entries] == [
        (CommandState.QUEUED, "load-manager", T0, "m1", CommandAction.LIMIT),
        (CommandState.SENT, "load-manager", T0 + timedelta(seconds=1), "m1", CommandAction.LIMIT),
        (
            CommandState.CONFIRMED,
            "load-manager",
            T0 + timedelta(seconds=2),
            "m1",
            CommandAction.LIMIT,
        ),
    ]
    assert entries[-1].detail == "limit 1500 W active"
    assert entries[0].seq < entries[1].seq < entries[2].seq


async def test_a_known_id_is_not_inserted_again(store: Store) -> None:
    first = record(reason="first")
    await store.save_command(first, new=True)
    again = record(reason="second", created_at=T0 + timedelta(hours=1))
    assert await store.save_command(again, new=True) == first
    assert len(await store.audit(command_id="c1")) == 1


async def test_a_final_state_is_never_overwritten(store: Store) -> None:
    queued = record()
    await store.save_command(queued, new=True)
    failed = queued.model_copy(update={"state": CommandState.FAILED, "detail": "refused"})
    await store.save_command(failed)
    late = queued.model_copy(update={"state": CommandState.SENT, "attempts": 2})
    assert await store.save_command(late) == failed
    assert [e.state for e in await store.audit()] == [CommandState.QUEUED, CommandState.FAILED]


async def test_commands_and_audit_are_listed_by_meter_state_and_parent(store: Store) -> None:
    parent = record(
        "g1",
        meter=None,
        group="street-7",
        action=CommandAction.DISCONNECT,
        limit_w=None,
        lease_s=None,
    )
    await store.save_command(parent, new=True)
    for n, meter in enumerate(("m1", "m2", "m3")):
        child = parent.model_copy(
            update={
                "id": f"g1/{meter}",
                "meter": meter,
                "group": None,
                "parent": "g1",
                "created_at": T0 + timedelta(seconds=n),
                "updated_at": T0 + timedelta(seconds=n),
            }
        )
        await store.save_command(child, new=True)
    other = record(
        "t1",
        meter="m2",
        action=CommandAction.TARIFF,
        limit_w=None,
        lease_s=None,
        tariff="night-saver",
        created_at=T0 + timedelta(seconds=9),
    )
    await store.save_command(other, new=True)
    assert [c.id for c in await store.commands(parent="g1")] == ["g1/m1", "g1/m2", "g1/m3"]
    assert [c.id for c in await store.commands(meter="m2")] == ["g1/m2", "t1"]
    assert (await store.commands(meter="m2"))[1].tariff == "night-saver"
    parent_back = await store.command("g1")
    assert parent_back is not None and parent_back.group == "street-7"
    assert parent_back.meter is None
    assert len(await store.commands(states=[CommandState.QUEUED])) == 5
    assert await store.commands(states=[CommandState.SENT]) == []
    assert [e.command_id for e in await store.audit(meter="m2")] == ["g1/m2", "t1"]
    newest = await store.audit(limit=2)
    assert [e.command_id for e in newest] == ["g1/m3", "t1"]


async def test_a_version_3_file_is_migrated_to_version_4(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    with sqlite3.connect(path) as db:
        sqlite_at_version(db, 3)
        db.execute("INSERT INTO counters VALUES ('dlms:m1', 7)")
    async with await SqliteStore.open(path) as store:
        assert await store.load_counter("dlms:m1") == 7
        await store.save_command(record(), new=True)
        assert [c.id for c in await store.commands()] == ["c1"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6


async def test_commands_survive_reopening(database: str) -> None:
    async with await open_store(database) as store:
        await store.save_command(record(), new=True)
    async with await open_store(database) as store:
        assert await store.command("c1") == record()

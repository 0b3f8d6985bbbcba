"""Commands outlive the head-end: an open command is resumed by `recover()` at the next start
(and not run twice), one whose expiry passed meanwhile is expired; a group command is final when
all its meters' commands are."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from headend.commands.model import CommandRecord, CommandState
from tests.commands.rig import CONCENTRATED, GPRS, fleet_file, request, rig
from tests.service.fleet_files import load

GROUP = [*CONCENTRATED, GPRS]


async def test_an_open_command_is_resumed_after_a_restart(tmp_path: Path) -> None:
    async with rig(tmp_path, down=GPRS) as r:
        expires = r.clock.now() + timedelta(minutes=10)
        queued = await r.service.submit(request(GPRS, id="survivor", expires_at=expires))
        assert queued.state is CommandState.QUEUED
        async with asyncio.timeout(30):
            while ((await r.store.command("survivor")) or queued).attempts < 1:  # noqa: ASYNC110 - the store is what is watched
                await asyncio.sleep(0.02)
        await r.service.close()  # the head-end stops while the meter is unreachable
        stopped = await r.store.command("survivor")
        assert stopped is not None and stopped.state is CommandState.SENT

        # the next start, with the meter reachable again
        restarted = r.another_service()
        try:
            # a stale one, whose expiry passed while the head-end was down
            stale = queued.model_copy(
                update={"id": "stale", "expires_at": r.clock.now() - timedelta(seconds=1)}
            )
            await r.store.save_command(stale, new=True)
            assert await restarted.recover() == 1
            done = await asyncio.wait_for(restarted.wait("survivor"), 30)
            assert done.state is CommandState.CONFIRMED, done.detail
            assert not r.sim.meter(GPRS).connected
            expired = await restarted.wait("stale", timeout=5)
            assert expired.state is CommandState.EXPIRED
            assert "down" in expired.detail
            # asked again with the same id: the stored outcome, nothing sent again
            again = await restarted.execute(request(GPRS, id="survivor", expires_at=expires))
            assert again == done
            sent = [
                e
                for e in await r.store.audit(command_id="survivor")
                if e.detail.startswith("attempt")
            ]
            assert sent[-1].state is CommandState.SENT
            assert restarted.in_flight() == 0
        finally:
            await restarted.close()


async def test_a_group_command_is_final_when_all_its_meters_are(tmp_path: Path) -> None:
    config = load(fleet_file(tmp_path, commands={"groups": {"street-7": GROUP}}))
    async with rig(tmp_path, config) as r:
        record = await asyncio.wait_for(
            r.service.execute(request(None, id="street-cut", group="street-7", reason="unpaid")),
            60,
        )
        assert record.state is CommandState.CONFIRMED, record.detail
        assert record.detail == "3 confirmed"
        children = await r.store.commands(parent="street-cut")
        assert sorted(c.id for c in children) == sorted(f"street-cut/{m}" for m in GROUP)
        assert all(c.state is CommandState.CONFIRMED for c in children)
        assert not any(r.sim.meter(m).connected for m in GROUP)


async def test_a_group_stored_without_its_children_is_expanded_at_recovery(
    tmp_path: Path,
) -> None:
    config = load(fleet_file(tmp_path, commands={"groups": {"street-7": GROUP}}))
    async with rig(tmp_path, config) as r:
        now = r.clock.now()
        # what a head-end killed between storing the group and its children left behind
        group = CommandRecord(
            id="half",
            group="street-7",
            action="disconnect",
            reason="unpaid",
            requester="billing",
            state=CommandState.QUEUED,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(minutes=5),
        )
        await r.store.save_command(group, new=True)
        assert await r.service.recover() == 3
        record = await asyncio.wait_for(r.service.wait("half"), 60)
        assert record.state is CommandState.CONFIRMED, record.detail
        assert len(await r.store.commands(parent="half")) == 3

"""The command service over real sockets against simulated meters: confirmed by the meter's
state, audited, run once per id, retried then expired on a dead channel, failed on a refusal."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from headend.commands.model import CommandAction, CommandState
from headend.events.model import HeadendEvent
from tests.commands.rig import CONCENTRATED, GPRS, PUBLIC, request, rig
from tests.postgres_server import PostgresServer


async def test_a_disconnect_is_confirmed_by_the_meter_and_audited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headend.service.commands")
    async with rig(tmp_path) as r:
        record = await asyncio.wait_for(r.service.execute(request(GPRS, id="cut-1")), 30)
        assert record.state is CommandState.CONFIRMED, record.detail
        lines = [m for m in caplog.messages if "cut-1" in m]
        assert lines == [
            f"command cut-1: disconnect on {GPRS} by tester: confirmed after 1 attempt(s): "
            f"{record.detail}"
        ]
        assert not r.sim.meter(GPRS).connected
        entries = await r.store.audit(command_id="cut-1")
        assert [e.state for e in entries] == [
            CommandState.QUEUED,
            CommandState.SENT,
            CommandState.CONFIRMED,
        ]
        assert {e.actor for e in entries} == {"tester"}
        assert all(e.meter == GPRS and e.action is CommandAction.DISCONNECT for e in entries)
        back = await asyncio.wait_for(
            r.service.execute(request(GPRS, CommandAction.RECONNECT, id="on-1")), 30
        )
        assert back.state in (CommandState.CONFIRMED, CommandState.ARMED), back.detail
        if back.state is CommandState.CONFIRMED:
            assert r.sim.meter(GPRS).connected


async def test_a_limit_with_a_lease_is_confirmed_and_released(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        limit = request(GPRS, CommandAction.LIMIT, limit_w=Decimal(1500), lease_s=900)
        record = await asyncio.wait_for(r.service.execute(limit), 30)
        assert record.state is CommandState.CONFIRMED, record.detail
        assert r.sim.meter(GPRS).active_limit_w() == 1500
        released = await asyncio.wait_for(
            r.service.execute(request(GPRS, CommandAction.RELEASE)), 30
        )
        assert released.state is CommandState.CONFIRMED, released.detail


async def test_a_repeated_id_runs_once(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        first, second = await asyncio.wait_for(
            asyncio.gather(
                r.service.execute(request(GPRS, id="once", reason="first")),
                r.service.execute(request(GPRS, id="once", reason="second")),
            ),
            30,
        )
        third = await r.service.execute(request(GPRS, id="once", reason="third"))
        assert first == second == third
        assert first.state is CommandState.CONFIRMED and first.reason == "first"
        entries = await r.store.audit(meter=GPRS)
        assert [e.state for e in entries].count(CommandState.SENT) == 1
        assert len(await r.store.commands()) == 1


async def test_a_refused_command_fails_at_once_and_raises_an_event(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        record = await asyncio.wait_for(r.service.execute(request(PUBLIC, id="no")), 30)
        assert record.state is CommandState.FAILED
        assert record.attempts == 1  # a refusal is not retried
        assert r.sim.meter(PUBLIC).connected
        events = await r.store.events(meter_ids=[PUBLIC])
        assert [e.code for e in events] == [HeadendEvent.COMMAND_FAILED]
        assert "no" in events[0].text


async def test_a_dead_meter_is_retried_then_expires(tmp_path: Path) -> None:
    async with rig(tmp_path, down=GPRS) as r:
        expires = r.clock.now() + timedelta(seconds=1.5)
        record = await asyncio.wait_for(
            r.service.execute(request(GPRS, id="dead", expires_at=expires)), 30
        )
        assert record.state is CommandState.EXPIRED, record.detail
        assert record.attempts >= 2
        assert "channel down" in record.detail
        assert r.clock.now() >= expires
        events = await r.store.events(meter_ids=[GPRS])
        assert [e.code for e in events] == [HeadendEvent.COMMAND_EXPIRED]
        # the other meters' commands are not held up by the dead one
        other = await asyncio.wait_for(r.service.execute(request(CONCENTRATED[0])), 30)
        assert other.state is CommandState.CONFIRMED


async def test_a_reconnect_the_meter_only_arms_is_armed_not_failed(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        meter = r.sim.meter(GPRS)
        meter.set_control_mode(1)  # a remote reconnect only arms: the customer presses
        off = await asyncio.wait_for(r.service.execute(request(GPRS)), 30)
        assert off.state is CommandState.CONFIRMED, off.detail
        on = await asyncio.wait_for(r.service.execute(request(GPRS, CommandAction.RECONNECT)), 30)
        assert on.state is CommandState.ARMED, on.detail
        assert not meter.connected and meter.control_state == "ready_for_reconnection"
        meter.press_button()
        assert meter.connected
        assert await r.store.events(meter_ids=[GPRS]) == []  # armed is no failure


async def test_tariff_and_clock_commands_are_confirmed(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        meter = r.sim.meter(GPRS)
        tariff = request(GPRS, CommandAction.TARIFF, tariff="FLAT")
        record = await asyncio.wait_for(r.service.execute(tariff), 30)
        assert record.state is CommandState.CONFIRMED, record.detail
        assert meter.tariff_programme == "FLAT"
        meter.set_time(r.clock.now() + timedelta(minutes=7))
        synced = await asyncio.wait_for(r.service.execute(request(GPRS, CommandAction.SYNC)), 30)
        assert synced.state is CommandState.CONFIRMED, synced.detail
        assert abs(meter.now() - r.clock.now()) < timedelta(seconds=5)


async def test_commands_and_their_audit_on_postgresql(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    name = postgres_server.create_database()
    try:
        async with rig(tmp_path, database=postgres_server.url(name)) as r:
            first, again = await asyncio.wait_for(
                asyncio.gather(
                    r.service.execute(request(GPRS, id="pg-1")),
                    r.service.execute(request(GPRS, id="pg-1")),
                ),
                30,
            )
            assert first == again and first.state is CommandState.CONFIRMED, first.detail
            assert not r.sim.meter(GPRS).connected
            refused = await asyncio.wait_for(r.service.execute(request(PUBLIC, id="pg-2")), 30)
            assert refused.state is CommandState.FAILED
            assert [(e.command_id, e.state) for e in await r.store.audit()] == [
                ("pg-1", CommandState.QUEUED),
                ("pg-1", CommandState.SENT),
                ("pg-1", CommandState.CONFIRMED),
                ("pg-2", CommandState.QUEUED),
                ("pg-2", CommandState.SENT),
                ("pg-2", CommandState.FAILED),
            ]
    finally:
        postgres_server.drop_database(name)

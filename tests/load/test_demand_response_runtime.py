"""Demand-response events given to a running head-end (`headend run`'s Daemon over real sockets,
simulated DLMS households on one feeder): through the control socket and through `headend dr`
in a subprocess, stored, applied by the load manager from its next cycle (limits sent with the
event as their reason), replaced by a modification, ended by a cancellation, and loaded again
from the store by the next start of the service.

The feeder is below its capacity in the afternoon, so every limit here is the event's. Time is
the simulators' accelerated clock; every wait is a hang guard on simulated time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.config.load import DemandResponseEvent, FeederSettings, LoadSettings
from headend.events.model import HeadendEvent
from headend.load.manager import REQUESTER
from headend.service.control import ask
from headend.service.daemon import Daemon
from headend.service.demand_response import check_event, configured_events
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.store import SqliteStore, StaleDemandResponse
from tests.load.grid_rig import DAY, FEEDER, HOUSEHOLDS, MEDICAL, grid_fleet
from tests.service.fleet_files import load

ELIGIBLE = HOUSEHOLDS - 1  # the event's target is shared among those that can be limited


def _fleet(tmp_path: Path, scheduled: list[dict[str, Any]] | None = None) -> Path:
    """The shared small grid, its clock at 14:00: the feeder is below its capacity, so every
    limit here is the event's."""
    return grid_fleet(tmp_path, time(14, 0), demand_response=scheduled)


async def _until(
    sim: SimulatedFleet, check: Callable[[], Awaitable[bool]], what: str, minutes: int
) -> None:
    """Poll until `check` holds; fail after `minutes` of simulated time (a hang guard)."""
    deadline = sim.clock.now() + timedelta(minutes=minutes)
    while not await check():
        if sim.clock.now() > deadline:
            raise AssertionError(f"no {what} within {minutes} simulated minutes")
        await asyncio.sleep(0.05)


def _share(event_id: str, kw: float) -> str:
    """The reason a household's limit carries while the event binds it."""
    return f"demand response {event_id}: {kw / ELIGIBLE:.2f} kW below"


async def _limits_for(store: SqliteStore, reason: str) -> list[CommandRecord]:
    return [
        c
        for c in await store.commands()
        if c.requester == REQUESTER and c.action is CommandAction.LIMIT and reason in c.reason
    ]


def _limited(store: SqliteStore, event_id: str, kw: float) -> Callable[[], Awaitable[bool]]:
    """Whether a limit bound by the event's share of `kw` was confirmed by its meter."""

    async def check() -> bool:
        return any(
            c.state is CommandState.CONFIRMED
            for c in await _limits_for(store, _share(event_id, kw))
        )

    return check


def _notices(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "headend.load.manager")


async def _dr(socket: Path, event: DemandResponseEvent, requester: str) -> dict[str, Any]:
    return await ask(
        socket,
        {
            "op": "demand_response",
            "event": event.model_dump(mode="json"),
            "requester": requester,
            "reason": "test",
        },
        timeout_s=30,
    )


async def test_an_event_through_the_control_socket_is_applied_modified_and_cancelled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headend.load.manager")
    config = load(_fleet(tmp_path))
    socket = Path(config.fleet.service.control_socket)
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:
            now = sim.clock.now()
            event = DemandResponseEvent(
                id="dr-1", feeder=FEEDER, start=now, end=now + timedelta(hours=3), reduction_kw=3.5
            )
            # refusals name the field or the version; nothing is stored for them
            unknown = event.model_copy(update={"feeder": "feeder-9"})
            answer = await _dr(socket, unknown, "ops")
            assert answer == {"ok": False, "error": "feeder: no feeder 'feeder-9' is defined"}
            assert await store.demand_responses() == []

            answer = await _dr(socket, event, "ops")
            assert answer["ok"], answer
            assert DemandResponseEvent.model_validate(answer["event"]) == event

            await _until(sim, _limited(store, "dr-1", 3.5), "limit for the event", 30)
            first = await _limits_for(store, _share("dr-1", 3.5))
            assert MEDICAL not in {c.meter for c in first}  # never asked to give up its share
            assert "event dr-1 version 1 scheduled" in _notices(caplog)

            stale = await _dr(socket, event.model_copy(update={"reduction_kw": 1.0}), "ops")
            assert stale["ok"] and stale["event"]["reduction_kw"] == 3.5  # (id, version) stored
            bigger = event.model_copy(update={"version": 2, "reduction_kw": 7.0})
            assert (await _dr(socket, bigger, "desk"))["ok"]
            await _until(sim, _limited(store, "dr-1", 7.0), "limit for version 2", 30)
            assert "event dr-1 version 1 replaced by version 2" in _notices(caplog)
            limited_meters = {c.meter for c in await _limits_for(store, "demand response dr-1")}

            cancel = bigger.model_copy(update={"version": 3, "cancelled": True})
            assert (await _dr(socket, cancel, "ops"))["ok"]

            async def released() -> bool:
                latest: dict[str, CommandRecord] = {}
                for command in await store.commands():
                    if command.requester == REQUESTER and command.state.final:
                        latest[str(command.meter)] = command
                return all(
                    latest[m].action is CommandAction.RELEASE
                    and latest[m].state is CommandState.CONFIRMED
                    for m in limited_meters
                )

            await _until(sim, released, "release after the cancellation", 60)
            assert "event dr-1 cancelled (version 3)" in _notices(caplog)
            assert await store.demand_responses() == [cancel]
            audits = [e for e in await store.events() if e.code == HeadendEvent.DEMAND_RESPONSE]
            assert [(a.cause, a.source) for a in audits] == [
                ("started", "ops"),
                ("modified", "desk"),
                ("cancelled", "ops"),
            ]
            assert "reduction 3.5 -> 7 kW" in audits[1].text
        finally:
            await daemon.stop()


async def _headend(*args: str) -> tuple[int, str, str]:
    """`headend ...` in a subprocess, awaited without blocking the service in this loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_headend_dr_reaches_the_service_and_stored_events_survive_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headend.load.manager")
    path = _fleet(tmp_path)
    config = load(path)
    database = tmp_path / "site.sqlite3"
    async with simulated_fleet(config) as (sim, served), await SqliteStore.open(database) as store:
        daemon = Daemon(served, store, sim.clock, database_url=str(database))
        await daemon.start()
        try:
            status, out, err = await _headend(
                "dr", "--config", str(path), "start", "--feeder", FEEDER, "--reduction-kw",
                "3.5", "--duration", "3h", "--id", "dr-cli", "--reason", "grid operator",
                "--requester", "cli:ops",
            )  # fmt: skip
            assert status == 0, err
            assert "sent to the running head-end service" in err
            assert out.startswith("demand response dr-cli version 1: feeder feeder-1: 3.5 kW")
            # the CLI asked the service for its (simulated) clock: the event starts now there
            [stored] = await store.demand_responses()
            assert abs(stored.start - sim.clock.now()) < timedelta(minutes=30)

            await _until(sim, _limited(store, "dr-cli", 3.5), "limit for the CLI's event", 30)
            status, _, err = await _headend(
                "dr", "--config", str(path), "start", "--feeder", "feeder-9", "--reduction-kw",
                "1", "--duration", "1h", "--reason", "typo",
            )  # fmt: skip
            assert status == 2 and "feeder: no feeder 'feeder-9' is defined" in err
        finally:
            await daemon.stop()

        # no service: the modification is stored in the site database for the next start
        status, out, err = await _headend(
            "dr", "--config", str(path), "modify", "dr-cli", "--reduction-kw", "7",
            "--reason", "deeper",
        )  # fmt: skip
        assert status == 0, err
        assert "the head-end applies it when it next starts" in err
        status, out, _ = await _headend("dr", "--config", str(path), "list", "--json")
        assert status == 0
        [listed] = [json.loads(line) for line in out.splitlines()]
        assert (listed["id"], listed["version"], listed["reduction_kw"]) == ("dr-cli", 2, 7.0)
        assert listed["source"] == "stored"

        caplog.clear()
        again = Daemon(served, store, sim.clock, database_url=str(database))
        await again.start()
        try:
            await _until(sim, _limited(store, "dr-cli", 7.0), "limit for the stored version 2", 30)
            assert "event dr-cli version 2 scheduled" in _notices(caplog)
            status, _, err = await _headend(
                "dr", "--config", str(path), "cancel", "dr-cli", "--reason", "done"
            )
            assert status == 0 and "sent to the running head-end service" in err
            assert (await store.demand_responses())[0].cancelled
            await _until(
                sim,
                _logged(caplog, "event dr-cli cancelled (version 3)"),
                "the cancellation applied",
                30,
            )
        finally:
            await again.stop()
    # in the order written (the CLI without a service stamps the wall clock, the service its
    # simulated one)
    audits = sorted(
        (e for e in await _events(database) if e.code == HeadendEvent.DEMAND_RESPONSE),
        key=lambda e: e.received_at,
    )
    assert [(a.cause, a.source) for a in audits] == [
        ("started", "cli:ops"),
        ("modified", audits[1].source),
        ("cancelled", audits[2].source),
    ]
    assert audits[1].source.startswith("cli:") and "(reason: deeper)" in audits[1].text


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return text in _notices(caplog)

    return check


async def _events(database: Path) -> list[Any]:
    async with await SqliteStore.open(database) as store:
        return list(await store.events())


def _settings() -> LoadSettings:
    start = datetime.combine(DAY, time(17, 0), tzinfo=UTC)
    return LoadSettings(
        feeders=[FeederSettings(id=FEEDER, capacity_kw=20, meter="fm", households=["h1", "h2"])],
        demand_response=[
            DemandResponseEvent(
                id="evening", version=2, feeder=FEEDER, start=start,
                end=start + timedelta(hours=2), reduction_kw=3,
            )
        ],
    )  # fmt: skip


def test_an_event_is_checked_against_the_load_section() -> None:
    settings = _settings()
    [scheduled] = settings.demand_response
    check_event(settings, scheduled.model_copy(update={"version": 3, "reduction_kw": 1.0}))
    with pytest.raises(ValueError, match=r"^households\[1\]: household 'h9' is on no feeder$"):
        group = {"feeder": None, "households": ["h1", "h9"], "version": 3}
        check_event(settings, scheduled.model_copy(update=group))
    with pytest.raises(StaleDemandResponse, match="not newer than version 2 in the fleet file"):
        check_event(settings, scheduled.model_copy(update={"reduction_kw": 1.0}))
    with pytest.raises(ValueError, match="no \\[load\\] feeders"):
        check_event(None, scheduled)
    assert configured_events(settings) == {"evening": scheduled}


async def test_headend_dr_without_a_service_versions_the_fleet_files_event(
    tmp_path: Path,
) -> None:
    start = datetime.combine(DAY, time(17, 0), tzinfo=UTC)
    scheduled = {
        "id": "evening",
        "version": 2,
        "feeder": FEEDER,
        "start": start,
        "end": start + timedelta(hours=2),
        "reduction_kw": 3.0,
    }
    path = str(_fleet(tmp_path, [scheduled]))
    status, out, _ = await _headend("dr", "--config", path, "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (status, listed["version"], listed["source"]) == (0, 2, "fleet file")

    status, out, err = await _headend(
        "dr", "--config", path, "modify", "evening", "--reduction-kw", "5", "--json"
    )
    assert status == 0, err
    assert DemandResponseEvent.model_validate_json(out).version == 3
    status, _, err = await _headend("dr", "--config", path, "cancel", "evening")
    assert status == 0, err
    status, _, err = await _headend("dr", "--config", path, "modify", "evening", "--end", "now")
    assert status == 2 and "not an ISO-8601 time" in err
    status, _, err = await _headend("dr", "--config", path, "cancel", "evening")
    assert status == 2 and "event 'evening' is cancelled (version 4)" in err
    status, out, _ = await _headend("dr", "--config", path, "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["version"], listed["source"], listed["state"]) == (4, "stored", "cancelled")
    assert listed["reduction_kw"] == 5.0
    async with await SqliteStore.open(tmp_path / "site.sqlite3") as store:
        [stored] = await store.demand_responses()
        assert stored.cancelled and stored.version == 4

"""`headend run` killed with SIGKILL during a run and started again, beside a `headend simulate`
process that keeps serving the fleet (so the simulated meters remember every invocation counter
they have seen): the interrupted run is caught up exactly once, the load profile has no gap and
no duplicate across the kill, no counter is reused (no ciphered meter says "replay"), and the
MQTT outbox resumes where it stopped.

MQTT delivery is at-least-once: a batch the broker took but whose acknowledgement the killed
head-end never stored is published again after the restart. So every stored reading arrives, and
the only ids that arrive twice are those of the batch in flight at the kill: at most one batch,
consecutive in the order they first arrived.
"""

from __future__ import annotations

import itertools
import signal
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drivers.contract import Reading
from headend.config import load_config
from headend.config.fleet import DlmsMeter
from headend.service.clock import clock_for
from headend.service.schedule import latest_fire_time, parse_schedule
from headend.sinks.messages import reading_id
from headend.store import SqliteStore
from tests.brokers import Mosquitto
from tests.service.run_support import (
    HeadendRun,
    Simulator,
    headend,
    json_lines,
    until,
    write_run_config,
)
from tests.sinks.support import Subscriber

SHAPE = [
    "--meters", "200",
    "--concentrators", "2", "--meters-per-concentrator", "20",
    "--modbus-gateways", "1", "--units-per-gateway", "10",
    "--dlt645-lines", "1", "--meters-per-line", "8",
    "--cipher-share", "0.5",
]  # fmt: skip
FACTOR = 60  # a 5-minute plan every 5 real seconds, the 15-minute profile every 15
PROFILE_PLAN = "load-profile"
ENERGY = "1.0.1.8.0.255"  # in the load profile's capture objects, not among the instantaneous
PROFILE_METERS = ("gprs-000001", "gprs-000002", "dc01-0001", "dc02-0020")  # some ciphered
MQTT_BATCH = 200
MAX_KILLS = 3  # a kill that lands just after the run ended is tried again


@dataclass(frozen=True)
class Interrupted:
    plan: str
    scheduled_for: datetime
    restart_launched: datetime  # simulated time when the next `headend run` was started
    restart_ready: datetime  # ... and when it answered on its control socket


async def stored_runs(config: Path) -> list[dict[str, Any]]:
    status, out, err = await headend("runs", "--config", str(config), "--json")
    assert status == 0, err
    return [line for line in json_lines(out) if "run_id" in line]


async def kill_moment(service: HeadendRun) -> list[dict[str, Any]]:
    """Wait for a load-profile run in progress after one has completed (so readings were stored
    and forwarded before the kill), preferably while MQTT entries wait (a batch in flight); the
    runs then in progress."""
    found: list[dict[str, Any]] = []
    polls_running = 0

    async def now() -> bool:
        nonlocal polls_running
        status = await service.status()
        if status is None:
            return False
        done_before = any(r["plan"] == PROFILE_PLAN for r in status["recent_runs"])
        running = any(r["plan"] == PROFILE_PLAN for r in status["in_progress"])
        if not (done_before and running):
            return False
        polls_running += 1
        waiting = sum(s["depth"] for s in status["sinks"] if s["sink"] == "mqtt")
        found[:] = status["in_progress"]
        return waiting > 0 or polls_running > 20

    await until(now, "a second load-profile run in progress", 180)
    return found


def message_id(reading: Reading) -> str:
    """The `id` of the reading's MQTT message."""
    return reading_id(reading.meter_id, reading.obis, reading.capture_time or reading.receive_time)


def completed(runs: list[dict[str, Any]], plan: str, scheduled_for: datetime) -> bool:
    return any(
        r["plan"] == plan and datetime.fromisoformat(r["scheduled_for"]) == scheduled_for
        for r in runs
        if r["scheduled_for"] is not None
    )


async def test_sigkill_during_a_run_is_caught_up_once_and_loses_or_reuses_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with Simulator(tmp_path, *SHAPE, factor=FACTOR, latency_ms=5) as sim:
        config = write_run_config(
            sim.path, tmp_path / "run.toml", mqtt_port=mosquitto.port, mqtt_batch=MQTT_BATCH
        )
        fleet = load_config(config).fleet
        clock = clock_for(fleet)  # the simulator's clock, computed from the file like the service
        schedules = {p.name: parse_schedule(p.schedule) for p in fleet.plans if p.schedule}
        ciphered = {m.id for m in fleet.meters if isinstance(m, DlmsMeter) and m.cipher}
        assert len(ciphered) >= 80
        prefix = f"headend/{fleet.site.name}"
        async with Subscriber(mosquitto.port, f"{prefix}/meter/#") as received:
            interrupted: list[Interrupted] = []
            kills = 0
            killed_at = clock.now()
            service = HeadendRun(config, tmp_path / "run.log")
            try:
                await service.start()
                while True:
                    # kill while the profile plan runs (other runs may be in progress too)
                    in_progress = await kill_moment(service)
                    await service.kill()
                    kills += 1
                    killed_at = clock.now()
                    assert service.proc is not None and service.proc.returncode == -signal.SIGKILL
                    runs = await stored_runs(config)
                    cut = [
                        (r["plan"], datetime.fromisoformat(r["scheduled_for"]))
                        for r in in_progress
                        if not completed(
                            runs, r["plan"], datetime.fromisoformat(r["scheduled_for"])
                        )
                    ]
                    launched = clock.now()
                    await service.start()
                    ready = clock.now()
                    interrupted += [Interrupted(p, s, launched, ready) for p, s in cut]
                    if any(p == PROFILE_PLAN for p, _ in cut) or kills == MAX_KILLS:
                        break
                assert any(i.plan == PROFILE_PLAN for i in interrupted), "no run was cut short"
                restarted_at = ready

                # each interrupted run caught up, then a scheduled profile run after it
                async def caught_up() -> bool:
                    runs = await stored_runs(config)
                    catch_ups = [r for r in runs if r["trigger"] == "catch-up"]
                    later = [
                        r
                        for r in runs
                        if r["plan"] == PROFILE_PLAN
                        and r["trigger"] == "schedule"
                        and datetime.fromisoformat(r["scheduled_for"]) > restarted_at
                    ]
                    return len(catch_ups) >= len(interrupted) and bool(later)

                await until(caught_up, "the catch-up runs and a scheduled profile run", 180)
                live = await service.status()
                assert live is not None

                async def drained() -> bool:
                    status = await service.status()
                    assert status is not None
                    depth = {s["sink"]: s["depth"] for s in status["sinks"]}
                    return depth.get("mqtt") == 0 and not status["in_progress"]

                await until(drained, "the MQTT outbox to drain", 180)
                assert await service.stop(signal.SIGTERM) == 0
            finally:
                await service.close()
            await received.settle()
            messages = [m for m in received.messages if m.topic.endswith("/reading")]

        runs = await stored_runs(config)
        status, out, err = await headend(
            "readings", "--config", str(config), "--obis", ENERGY, "--json",
            *[arg for m in PROFILE_METERS for arg in ("--meter", m)],
        )  # fmt: skip
        assert status == 0, err
        profile_rows = json_lines(out)
        status, out, err = await headend("events", "--config", str(config), "--json")
        assert status == 0, err
        events = json_lines(out)

        store_path = Path(tomllib.loads(config.read_text())["site"]["database"])
        async with await SqliteStore.open(store_path) as store:
            stored = await store.readings()
            undelivered = await store.outbox_fetch("mqtt", 1_000_000)
            ciphered_last = {
                m: max((r.capture_time for r in await store.readings(meter_id=m, obis=ENERGY)
                        if r.capture_time is not None), default=None)
                for m in sorted(ciphered)
            }  # fmt: skip
    log = (tmp_path / "run.log").read_text(errors="replace")

    # -- the interrupted runs were caught up exactly once ---------------------------------------
    for missed in interrupted:
        catch_ups = [
            r
            for r in runs
            if r["plan"] == missed.plan
            and r["trigger"] == "catch-up"
            and missed.scheduled_for
            <= datetime.fromisoformat(r["scheduled_for"])
            <= missed.restart_ready
        ]
        assert len(catch_ups) == 1, (missed, catch_ups)
        served = datetime.fromisoformat(catch_ups[0]["scheduled_for"])
        schedule = schedules[missed.plan]
        # the latest fire time when the new scheduler started: the interrupted one, unless the
        # restart took longer than the plan's period (then coalesced into a later one)
        assert latest_fire_time(schedule, missed.restart_launched) <= served
        assert served <= latest_fire_time(schedule, missed.restart_ready)
        if latest_fire_time(schedule, missed.restart_ready) == missed.scheduled_for:
            assert served == missed.scheduled_for
    assert sum(1 for r in runs if r["trigger"] == "catch-up") == len(interrupted), runs
    keys = Counter((r["plan"], r["scheduled_for"]) for r in runs)
    assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1]

    # -- no counter reused: no replay anywhere, every meter read after the restart --------------
    for run in runs:
        assert "replay detected" not in run["failed_by_cause"], run
        assert "authentication failed" not in run["failed_by_cause"], run
    for run in runs:
        if run["trigger"] == "catch-up":
            assert run["attempted"] == len(fleet.meters), run
    assert not [e for e in events if e["name"] == "replay_detected"]
    assert "Traceback" not in log
    assert "replay" not in log.lower()
    # every ciphered meter gave profile captures after the kill: read by the restarted head-end
    assert all(last is not None and last > killed_at for last in ciphered_last.values()), {
        m: last for m, last in ciphered_last.items() if last is None or last <= killed_at
    }

    # -- the load profile has no gap and no duplicate across the kill --------------------------
    by_meter: dict[str, list[datetime]] = {}
    for row in profile_rows:
        by_meter.setdefault(row["meter"], []).append(datetime.fromisoformat(row["capture_time"]))
    assert set(by_meter) == set(PROFILE_METERS)
    for meter, captures in by_meter.items():
        assert len(captures) == len(set(captures)), meter
        captures.sort()
        assert captures[0] < killed_at < captures[-1], (meter, captures[0], captures[-1])
        steps = {b - a for a, b in itertools.pairwise(captures)}
        assert steps == {timedelta(minutes=15)}, (meter, sorted(steps))

    # -- the outbox resumed where it stopped: everything arrives, duplicates only in flight -----
    stored_ids = {message_id(r) for r in stored}
    waiting = {message_id(e.reading) for e in undelivered if e.reading is not None}
    assert all("id" in m.payload for m in messages), [m for m in messages if "id" not in m.payload][
        :3
    ]
    arrivals = [m.payload["id"] for m in messages]
    arrived = set(arrivals)
    assert stored_ids - waiting <= arrived, len(stored_ids - waiting - arrived)
    assert arrived <= stored_ids
    counts = Counter(arrivals)
    twice = {i for i, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    assert len(twice) <= kills * MQTT_BATCH
    first_order = list(dict.fromkeys(arrivals))
    positions = sorted(first_order.index(i) for i in twice)
    segments = sum(1 for a, b in zip([-2, *positions], positions, strict=False) if b != a + 1)
    assert segments <= kills, positions

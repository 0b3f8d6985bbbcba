"""`headend status` without a running service: what the store and the fleet file tell.

Not running (no control socket, or a stale one nobody listens on): `running` false, the next run
of each scheduled plan from its schedule, the outbox depth and oldest undelivered entry of each
configured sink, the latest run per plan and today's collection rate. The store is filled through
the Store API on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.runs.model import RunStats
from headend.service.schedule import next_fire_time, parse_schedule
from headend.store import open_store
from tests.cli.inprocess import cli
from tests.cli.stored import known_readings
from tests.cli.test_events_runs import EVENTS

FLEET = """
[site]
name = "north"
database = "{database}"

[service]
control_socket = "{socket}"

[[plans]]
name = "load-profile"
profile = "1.0.99.1.0.255"
schedule = "every 15 minutes"

[[plans]]
name = "daily-registers"
points = ["1.0.1.8.0.255"]
schedule = "daily at 00:05"

[[plans]]
name = "ad-hoc"
points = ["1.0.32.7.0.255"]
{sinks}
"""

SINKS = """
[sinks.mqtt]
host = "127.0.0.1"
port = 1

[sinks.influxdb]
url = "http://127.0.0.1:1"
org = "utility"
bucket = "metering"
"""

SCHEDULED = {"load-profile": "every 15 minutes", "daily-registers": "daily at 00:05"}
MQTT_DELIVERED = 5


def write_fleet(directory: Path, database: str, *, sinks: bool = True) -> Path:
    path = directory / "fleet.toml"
    path.write_text(
        FLEET.format(
            database=database, socket=directory / "headend.sock", sinks=SINKS if sinks else ""
        )
    )
    return path


# one instant for the whole module: a run built twice must be the same run (a second boundary
# crossed between storing it and comparing made this test flaky)
TODAY = datetime.now(UTC).replace(microsecond=0)


def today_run() -> RunStats:
    return RunStats(
        run_id="today",
        plan="load-profile",
        trigger="catch-up",
        started_at=TODAY,
        duration_s=3.0,
        attempted=8,
        ok=6,
        partial=1,
        failed=1,
        failed_by_cause={"timeout": 1},
    )


@pytest.fixture
async def outbox(store_url: str) -> dict[str, dict[str, Any]]:
    """The store filled (readings, events, a run: each one outbox entry); the mqtt sink has
    delivered its first entries. Returns the status each sink should show."""
    store = await open_store(store_url)
    try:
        saved = await store.save_batch(known_readings(hours=2))
        assert saved.new == 18
        await store.save_events(EVENTS)
        await store.save_run(today_run())
        entries = await store.outbox_fetch("mqtt", 100)
        await store.outbox_ack("mqtt", entries[MQTT_DELIVERED - 1].seq)
    finally:
        await store.close()
    assert len(entries) == 18 + len(EVENTS) + 1

    def oldest(entry: int) -> str:
        return entries[entry].created_at.isoformat().replace("+00:00", "Z")

    return {
        "mqtt": {
            "sink": "mqtt",
            "depth": len(entries) - MQTT_DELIVERED,
            "oldest_at": oldest(MQTT_DELIVERED),
            "delivered_seq": entries[MQTT_DELIVERED - 1].seq,
        },
        "influxdb": {
            "sink": "influxdb",
            "depth": len(entries),
            "oldest_at": oldest(0),
            "delivered_seq": 0,
        },
    }


def expected_next_runs(now: datetime) -> dict[str, str]:
    return {
        name: next_fire_time(parse_schedule(text), now).isoformat()
        for name, text in SCHEDULED.items()
    }


def same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def status_json(fleet: Path) -> dict[str, Any]:
    before = datetime.now(UTC)
    status, out, err = await cli("status", "--config", str(fleet), "--json")
    after = datetime.now(UTC)
    assert (status, err) == (0, ""), out
    shown: dict[str, Any] = json.loads(out)
    # a schedule may fire between the two instants: either answer is right
    assert shown["next_runs"] in (expected_next_runs(before), expected_next_runs(after))
    return shown


async def test_not_running_json(
    store_url: str, outbox: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    shown = await status_json(write_fleet(tmp_path, store_url))
    assert shown["site"] == "north" and shown["running"] is False
    assert "in_progress" not in shown and "channels_down" not in shown
    assert list(shown["next_runs"]) == list(SCHEDULED)  # the plan without a schedule has none
    assert len(shown["outbox"]) == 2
    for entry in shown["outbox"]:
        want = outbox[entry["sink"]]
        assert entry["depth"] == want["depth"] and entry["delivered_seq"] == want["delivered_seq"]
        assert same_instant(entry["oldest_at"], want["oldest_at"])
    assert shown["latest_runs"] == {"load-profile": json.loads(today_run().model_dump_json())}
    assert shown["rates_today"] == {"load-profile": 7 / 8}


async def test_a_stale_control_socket_is_not_running(
    store_url: str, outbox: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """A service killed with SIGKILL leaves its socket file: nobody accepts on it."""
    fleet = write_fleet(tmp_path, store_url)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "headend.sock"))
    stale.close()
    assert (tmp_path / "headend.sock").exists()
    shown = await status_json(fleet)
    assert shown["running"] is False
    assert {e["sink"]: e["depth"] for e in shown["outbox"]} == {
        sink: want["depth"] for sink, want in outbox.items()
    }


async def test_not_running_table(
    store_url: str, outbox: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    status, out, err = await cli("status", "--config", str(write_fleet(tmp_path, store_url)))
    assert (status, err) == (0, "")
    assert "head-end north: NOT running" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    # plans: next run from the schedule, the latest run and today's rate
    assert "87.50%" in rows["load-profile"] and " 8 " in rows["load-profile"]
    assert rows["daily-registers"].count(" - ") >= 3  # scheduled, never run
    next_daily = datetime.fromisoformat(rows["daily-registers"].split("│")[2].strip())
    assert (next_daily.hour, next_daily.minute) == (0, 5)
    assert rows["ad-hoc"].split("│")[2].strip() == "-"
    # outbox: per sink its depth; not running, so no delivery state
    for sink, want in outbox.items():
        cells = [c.strip() for c in rows[sink].split("│")[1:-1]]
        assert cells[:2] == [sink, str(want["depth"])]
        assert same_instant(cells[2], want["oldest_at"]) and cells[3] == "-"


async def test_without_sinks_an_old_run_is_latest_but_not_today(
    store_url: str, tmp_path: Path
) -> None:
    old = today_run().model_copy(update={"started_at": datetime.now(UTC) - timedelta(days=2)})
    store = await open_store(store_url)
    try:
        await store.save_run(old)
    finally:
        await store.close()
    shown = await status_json(write_fleet(tmp_path, store_url, sinks=False))
    assert shown["outbox"] == [] and shown["rates_today"] == {}
    assert shown["latest_runs"] == {"load-profile": json.loads(old.model_dump_json())}

"""`headend collect` as a real subprocess against a simulated fleet on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headend.config import load_config
from headend.simulation import simulated_fleet
from tests.headend.subprocess_cli import ROOT, headend
from tests.loopback_fleet import loopback_channels, write_fleet_file

FLEET = (
    """
[site]
name = "collect"
system_title = "4845414445303031"
database = "{db}"

[reading]
retries = 0

[simulation]
factor = 60.0
history = "PT1H"

[simulation.demo_keys.hls]
auth_key = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
block_key = "000102030405060708090a0b0c0d0e0f"

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255", "1.0.2.8.0.255", "0.0.1.0.0.255"]
"""
    + loopback_channels("gprs-a", "gprs-hls", "dc", "gprs-dead")
    + """
[[meters]]
id = "w-a"
protocol = "dlms"
channel = "gprs-a"

[[meters]]
id = "w-hls"
protocol = "dlms"
channel = "gprs-hls"
auth = "hls-gmac"
cipher = true
key = "hls"

[[meters]]
id = "h-1"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 17

[[meters]]
id = "h-2"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 18

[[meters]]
id = "w-dead"
protocol = "dlms"
channel = "gprs-dead"
timeout_s = 0.5
"""
)
READ_OK = {"w-a", "w-hls", "h-1", "h-2"}


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Path]:
    """The fleet file; its meters served on its ports (w-dead accepts but never answers)."""
    path = write_fleet_file(tmp_path / "fleet.toml", FLEET, db=tmp_path / "site.sqlite3")
    async with simulated_fleet(load_config(path), configured_ports=True, silent={"w-dead"}):
        yield path


def stored_meters(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT meter_id, COUNT(*) FROM readings GROUP BY meter_id")
        return {meter: count for meter, count in rows}


async def test_whole_fleet_table_per_channel_and_exit_1(fleet: Path, tmp_path: Path) -> None:
    status, out, err = await headend("collect", "--config", str(fleet), "--plan", "registers")
    assert status == 1, out + err
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "timeout 1" in lines["gprs-dead"]
    for channel in ("gprs-a", "gprs-hls", "dc"):
        assert channel in lines and "timeout" not in lines[channel]
    total = [c.strip() for c in lines["total"].split("│")[1:-1]]
    assert total[:5] == ["total", "5", "4", "0", "1"]
    assert "12 values read, 12 new readings stored" in out
    # not a terminal: no progress bar, one summary line
    summary = err.strip().splitlines()
    assert len(summary) == 1 and "5 meters, 4 ok, 0 partial, 1 failed" in summary[0]
    assert stored_meters(tmp_path / "site.sqlite3") == dict.fromkeys(READ_OK, 3)


async def test_some_meters_json_report_and_exit_0(fleet: Path, tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    status, out, err = await headend(
        "collect",
        "--config",
        str(fleet),
        "--plan",
        "registers",
        "--meters",
        "w-hls",
        "h-2",
        "--db",
        str(db),
        "--json",
    )
    assert status == 0, out + err
    report = json.loads(out)
    assert report["plan"] == "registers"
    assert {m["meter_id"]: m["status"] for m in report["meters"]} == {"w-hls": "ok", "h-2": "ok"}
    assert sum(m["stored"] for m in report["meters"]) == 6
    assert stored_meters(db) == {"w-hls": 3, "h-2": 3}
    assert not (tmp_path / "site.sqlite3").exists()  # --db replaced the site database


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--plan", "nightly"], "no plan 'nightly' (plans: registers)"),
        (["--plan", "registers", "--meters", "w-a", "ghost"], "no meter(s) ghost in the fleet"),
        ([], "the following arguments are required: --plan"),
    ],
)
async def test_usage_errors_exit_2(fleet: Path, args: list[str], needle: str) -> None:
    status, out, err = await headend("collect", "--config", str(fleet), *args)
    assert (status, out) == (2, "")
    assert needle in err and "Traceback" not in err


async def test_progress_bar_on_a_terminal(fleet: Path) -> None:
    """With stderr on a terminal (a real pty) rich draws the bar: done of total, rate, failures."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    env.update({"COLUMNS": "160", "TERM": "xterm"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        "collect",
        "--config",
        str(fleet),
        "--plan",
        "registers",
        stdout=asyncio.subprocess.PIPE,
        stderr=follower,
        cwd=ROOT,
        env=env,
    )
    os.close(follower)
    loop = asyncio.get_running_loop()
    drawn = bytearray()

    def drain() -> None:
        try:
            while chunk := os.read(leader, 65536):
                drawn.extend(chunk)
        except OSError:  # EIO once the child has closed the terminal
            pass

    reader = loop.run_in_executor(None, drain)
    async with asyncio.timeout(60):  # hang guard only
        out, _ = await proc.communicate()
        await reader
    os.close(leader)
    text = drawn.decode(errors="replace")
    assert proc.returncode == 1
    assert "meters/s" in text and "failed" in text and "/5" in text
    assert "headend collect: plan" not in text  # the bar replaces the summary line
    assert b"timeout 1" in out


async def test_a_store_that_cannot_be_used_is_exit_3_naming_it(fleet: Path, tmp_path: Path) -> None:
    # a broken store is neither a usage error nor a meter's failure: its own status, no traceback
    db = tmp_path / "not-a-database.sqlite3"
    db.write_bytes(b"this is not an SQLite file" * 100)
    status, _out, err = await headend(
        "collect", "--config", str(fleet), "--plan", "registers", "--db", str(db)
    )
    assert status == 3
    assert "store failed" in err and str(db) in err
    assert "Traceback" not in err

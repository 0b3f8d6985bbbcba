"""`headend demo` end to end, as a real subprocess (which starts the simulator as its own child):
a small grid over an evening, then what it leaves behind (summary, JSON, plot, site database).

Every wait is a hang guard; what is asserted is behaviour: the overloaded feeder was managed
(its peak measured at the feeder meter below the unmanaged one, limits confirmed by read-back),
and the readings, commands and cycles are in the site database.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from headend.demo.summary import DemoSummary
from headend.store import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _demo(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    env["COLUMNS"] = "200"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        "demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    async with asyncio.timeout(400):  # hang guard only
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _header(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(len(PNG_MAGIC))


@pytest.mark.timeout(450)
async def test_a_small_evening_is_load_managed_and_recorded(tmp_path: Path) -> None:
    db, out_dir = tmp_path / "site.sqlite3", tmp_path / "out"
    status, out, err = await _demo(
        "--households",
        "60",
        "--feeders",
        "2",
        "--start",
        "17:00",
        "--end",
        "22:00",
        "--minutes",
        "1",
        "--no-live",
        "--db",
        str(db),
        "--out",
        str(out_dir),
        cwd=tmp_path,
    )
    assert status == 0, out + err
    assert "peak before kW" in out and "feeder-1" in out  # the summary table

    summary = DemoSummary.model_validate_json((out_dir / "summary.json").read_text())
    assert summary.households == 60 and [f.feeder for f in summary.feeders] == [
        "feeder-1",
        "feeder-2",
    ]
    overloaded = summary.feeders[0]
    # without load management the evening peak exceeds the usable capacity...
    assert overloaded.peak_unmanaged_kw > overloaded.usable_kw
    assert overloaded.overload_min_unmanaged > 0
    # ...with it, the feeder meter measured a lower peak
    assert overloaded.peak_measured_kw is not None
    assert overloaded.peak_measured_kw < overloaded.peak_unmanaged_kw
    assert overloaded.most_limited > 0
    limits = summary.commands["limit"]
    assert limits.sent > 0 and limits.confirmed > 0
    assert overloaded.served_kwh > 0 and overloaded.demanded_kwh >= overloaded.served_kwh * 0.99
    assert summary.feeders[1].demand_response == "dr-evening"
    assert summary.collection.runs > 0 and summary.collection.collected > 0

    assert _header(Path(str(summary.plot))) == PNG_MAGIC

    async with await SqliteStore.open(db) as store:
        cycles = await store.load_cycles()
        commands = await store.commands()
        readings = await store.count_readings()
    assert {c.feeder for c in cycles} == {"feeder-1", "feeder-2"}
    assert len(cycles) == summary.cycles
    assert any(c.overloaded for c in cycles if c.feeder == "feeder-1")
    assert len([c for c in commands if c.requester == "load-manager"]) == sum(
        c.sent for c in summary.commands.values()
    )
    assert readings == summary.readings > 0

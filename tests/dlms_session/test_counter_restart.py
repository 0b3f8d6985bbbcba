"""The client invocation counter survives a process restart (persisted through a CounterStore).

The client runs in a subprocess, twice, against one simulator: a client with a fresh counter
store is refused by the meter (it replays counters the meter has seen), the persisted one works.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from .conftest import Rig

ROOT = Path(__file__).resolve().parents[2]


async def run_client(port: int, db: Path) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dlms_session.counter_client",
        str(port),
        str(db),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_counter_survives_a_restart_and_a_fresh_one_is_refused(rig: Rig, tmp_path: Path):
    port = await rig.sim.serve_wrapper("m1")
    persisted = tmp_path / "counters.db"

    first = await run_client(port, persisted)
    assert first["ok"], first
    fresh = await run_client(port, tmp_path / "fresh.db")
    assert fresh == {"ok": False, "error": "authentication failed", "detail": fresh["detail"]}
    second = await run_client(port, persisted)
    assert second["ok"], second
    assert isinstance(first["counter"], int) and isinstance(second["counter"], int)
    assert second["counter"] > first["counter"]

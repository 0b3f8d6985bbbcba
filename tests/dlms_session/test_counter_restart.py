"""Client invocation counters in the real SqliteStore, across processes, against the simulator.

The client runs in subprocesses against one simulated meter (HLS-GMAC, AES-GCM): a client with a
fresh store is refused (it replays counters the meter has seen), the persisted one works after a
restart, and two processes reading the meter at once through one store file never send the same
counter. The meter's own replay check is the judge: every counter it is offered is recorded.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dlms_cosem.security import SecurityControlField

from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.server.security import DeviceSecurity

from .conftest import SECRETS, Rig

ROOT = Path(__file__).resolve().parents[2]


class RecordingSecurity(DeviceSecurity):
    """The simulator's own security, noting every client counter offered, replay or not."""

    def __init__(self, secrets: DlmsMeterSecrets, offered: list[int]) -> None:
        super().__init__(secrets)
        self.offered = offered

    def decipher(
        self,
        client_title: bytes,
        control: SecurityControlField,
        counter: int,
        ciphered: bytes,
    ) -> bytes:
        self.offered.append(counter)
        return super().decipher(client_title, control, counter, ciphered)


def record_offered_counters(rig: Rig) -> list[int]:
    offered: list[int] = []
    rig.sim._entry("m1").cosem().security = RecordingSecurity(SECRETS, offered)
    return offered


async def start_client(port: int, db: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dlms_session.counter_client",
        str(port),
        str(db),
        *extra,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    async with asyncio.timeout(90):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_counter_survives_a_restart_and_a_fresh_one_is_refused(rig: Rig, tmp_path: Path):
    port = await rig.sim.serve_wrapper("m1")
    offered = record_offered_counters(rig)
    persisted = tmp_path / "counters.db"

    first = await finish(await start_client(port, persisted))
    assert first["results"] == [{"ok": True}], first
    fresh = (await finish(await start_client(port, tmp_path / "fresh.db")))["results"]
    assert fresh == [{"ok": False, "error": "authentication failed", "detail": fresh[0]["detail"]}]
    second = await finish(await start_client(port, persisted))
    assert second["results"] == [{"ok": True}], second
    assert isinstance(first["counter"], int) and isinstance(second["counter"], int)
    assert second["counter"] > first["counter"]
    # the fresh store's counter was offered again (refused); the persisted one never repeats
    repeated = {c for c, n in Counter(offered).items() if n > 1}
    assert repeated and max(repeated) < first["counter"]


async def test_two_processes_reading_one_meter_never_send_the_same_counter(
    rig: Rig, tmp_path: Path
):
    port = await rig.sim.serve_wrapper("m1")
    offered = record_offered_counters(rig)
    db, reads = tmp_path / "counters.db", 12
    procs = [await start_client(port, db, str(reads), "--wait") for _ in range(2)]
    async with asyncio.timeout(60):
        for proc in procs:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
    for proc in procs:  # both start together
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    results = [r for proc in procs for r in (await finish(proc))["results"]]

    assert len(results) == 2 * reads
    # a session whose block lies below a counter the meter has already seen from the other process
    # is refused, at the association or at a later request (the meter wants "above the last
    # one"): that is the meter's replay check at work, not a reuse
    refused = [r for r in results if not r["ok"]]
    assert all(
        r["error"] == "authentication failed" or "INVOCATION_COUNTER_ERROR" in r["detail"]
        for r in refused
    ), refused
    assert sum(r["ok"] for r in results) >= reads
    # every association and request carried a counter, and the meter never saw one twice
    assert len(offered) >= 2 * reads
    assert len(set(offered)) == len(offered), sorted(offered)

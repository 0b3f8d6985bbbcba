"""`headend command` and `headend audit` as real subprocesses against simulated meters: executed
in the CLI's own process when no service runs, sent to a running service when one answers on the
control socket; exit status 0 confirmed, 1 failed, 2 usage errors."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.commands.rig import GPRS, PUBLIC, fleet_file
from tests.headend.subprocess_cli import headend
from tests.service.fleet_files import load


async def test_a_command_runs_in_the_cli_without_a_service_and_is_audited(tmp_path: Path) -> None:
    path = fleet_file(tmp_path, own_ports=True)
    config = load(path)
    async with simulated_fleet(config, configured_ports=True) as (sim, _served):
        status, out, err = await headend(
            "command", "--config", str(path), GPRS, "disconnect",
            "--reason", "unpaid bill", "--id", "cli-1", "--expires", "2m", "--json",
        )  # fmt: skip
        assert status == 0, err
        record = json.loads(out)
        assert (record["id"], record["state"], record["meter"]) == ("cli-1", "confirmed", GPRS)
        assert record["requester"] == f"cli:{getpass.getuser()}"
        assert not sim.meter(GPRS).connected

        status, out, err = await headend(
            "command", "--config", str(path), PUBLIC, "limit", "1500", "--lease", "15m",
            "--reason", "peak", "--requester", "operator-7",
        )  # fmt: skip
        assert status == 1, err
        assert "failed" in out
        assert sim.meter(PUBLIC).connected

    # usage errors: an unknown meter, a limit without watts, a value where none belongs
    for args in (
        ["nobody", "disconnect"],
        [GPRS, "limit"],
        [GPRS, "disconnect", "12"],
        [GPRS, "limit", "-5"],
    ):
        status, _out, err = await headend("command", "--config", str(path), *args, "--reason", "x")
        assert status == 2, (args, err)
        assert err.startswith("headend command:") and "Traceback" not in err

    status, out, err = await headend("audit", "--config", str(path), "--json")
    assert status == 0, err
    entries = [json.loads(line) for line in out.splitlines()]
    assert [(e["command_id"], e["state"]) for e in entries if e["command_id"] == "cli-1"] == [
        ("cli-1", "queued"),
        ("cli-1", "sent"),
        ("cli-1", "confirmed"),
    ]
    refused = [e for e in entries if e["meter"] == PUBLIC]
    assert [e["state"] for e in refused] == ["queued", "sent", "failed"]
    assert {e["actor"] for e in refused} == {"operator-7"}
    status, out, _err = await headend("audit", "--config", str(path), "--meter", GPRS)
    assert status == 0
    assert "cli-1" in out and "confirmed" in out and PUBLIC not in out


async def test_a_command_goes_through_the_running_service(tmp_path: Path) -> None:
    path = fleet_file(tmp_path, own_ports=True)
    config = load(path)
    async with (
        simulated_fleet(config, configured_ports=True) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:
            args = ["command", "--config", str(path), GPRS, "disconnect", "--reason", "unpaid"]
            status, out, err = await headend(*args, "--id", "svc-1")
            assert status == 0, err
            assert "sent to the running head-end service" in err
            assert "svc-1" in out and "confirmed" in out
            assert not sim.meter(GPRS).connected
            # the same id again: the first outcome, nothing sent again
            status, out, err = await headend(*args, "--id", "svc-1")
            assert status == 0 and "confirmed" in out
            sent = [e for e in await store.audit(command_id="svc-1") if e.state == "sent"]
            assert len(sent) == 1
            assert daemon.commands.in_flight() == 0
        finally:
            await daemon.stop()

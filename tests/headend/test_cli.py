"""The `headend` CLI as a real subprocess against the DLMS simulator on loopback."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest

from drivers.dlms.server import DlmsMeterSecrets
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from tests.conftest import free_port
from tests.headend.subprocess_cli import ROOT, headend

PASSWORD = b"cli-pass-42"


@pytest.fixture
async def sim():
    clock = SimClock(factor=60.0)
    async with DlmsSimulator(clock) as simulator:
        for i, name in enumerate(("open", "lls")):
            simulator.add_meter(
                SimulatedMeter(name, clock, seed=i, history=timedelta(hours=3)),
                DlmsMeterSecrets(password=PASSWORD),
            )
        ports = {name: await simulator.serve_wrapper(name) for name in ("open", "lls")}
        ports["hdlc"] = await simulator.serve_hdlc_tcp(["open", "lls"])
        yield simulator, ports


async def test_read_json_all_values(sim):
    _simulator, ports = sim
    url = f"dlms+tcp://127.0.0.1:{ports['open']}"
    status, out, err = await headend(
        "read",
        url,
        "--obis",
        "1-0:1.8.0*255",
        "--obis",
        "0.0.1.0.0.255",
        "--json",
        "--meter-id",
        "open",
    )
    assert status == 0, err
    assert err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    by_obis = {r["obis"]: r for r in rows}
    assert sorted(by_obis) == ["0.0.1.0.0.255", "1.0.1.8.0.255"] and len(rows) == 2
    energy = by_obis["1.0.1.8.0.255"]
    assert set(energy) == {"meter", "obis", "value", "unit", "capture_time", "quality"}
    assert energy["meter"] == "open" and energy["unit"] == "Wh" and energy["quality"] == "ok"
    assert float(energy["value"]) > 0 and "E" not in energy["value"]
    datetime.fromisoformat(by_obis["0.0.1.0.0.255"]["value"])


async def test_read_default_register_set_over_hdlc(sim):
    simulator, ports = sim
    physical = simulator.physical_address("open")
    url = f"dlms+hdlc+tcp://127.0.0.1:{ports['hdlc']}"
    status, out, err = await headend("read", url, "--server-physical", str(physical), "--json")
    assert status == 0, err
    obis = {json.loads(line)["obis"] for line in out.splitlines()}
    assert {"1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255", "0.0.1.0.0.255"} <= obis


async def test_some_values_fail_exit_1_one_stderr_line_each(sim):
    _simulator, ports = sim
    url = f"dlms+tcp://127.0.0.1:{ports['open']}"
    status, out, err = await headend(
        "read",
        url,
        "--meter-id",
        "m",
        "--json",
        "--obis",
        "1.0.1.8.0.255",
        "--obis",
        "1.0.150.8.0.255",
        "--obis",
        "1.0.151.8.0.255",
    )
    assert status == 1
    assert [json.loads(line)["obis"] for line in out.splitlines()] == ["1.0.1.8.0.255"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("m 1.0.150.8.0.255: ")
    assert lines[1].startswith("m 1.0.151.8.0.255: ")
    assert "Traceback" not in err


async def test_lls_password_from_environment(sim):
    _simulator, ports = sim
    url = f"dlms+tcp://127.0.0.1:{ports['lls']}?auth=low"
    ok = await headend(
        "read",
        url,
        "--obis",
        "1.0.1.8.0.255",
        "--json",
        env={"HEADEND_PASSWORD": PASSWORD.decode()},
    )
    assert ok[0] == 0, ok[2]
    status, out, err = await headend(
        "read",
        url,
        "--obis",
        "1.0.1.8.0.255",
        "--retries",
        "0",
        env={"HEADEND_PASSWORD": "wrong-secret-99"},
    )
    assert status == 1 and "authentication failed" in err
    assert "wrong-secret-99" not in err + out
    missing = await headend("read", url)
    assert missing[0] == 2 and "HEADEND_PASSWORD" in missing[2]


async def test_dead_meter_every_value_fails():
    url = f"dlms+tcp://127.0.0.1:{free_port()}"
    status, out, err = await headend(
        "read",
        url,
        "--obis",
        "1.0.1.8.0.255",
        "--obis",
        "1.0.2.8.0.255",
        "--retries",
        "0",
        "--meter-id",
        "dead",
    )
    assert status == 1 and out.strip() == ""
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("dead 1.0.") for line in lines)
    assert all("channel down" in line for line in lines)


async def test_profile_rows_have_capture_times(sim):
    simulator, ports = sim
    now = simulator.clock.now()
    url = f"dlms+tcp://127.0.0.1:{ports['open']}"
    status, out, err = await headend(
        "read",
        url,
        "--json",
        "--profile",
        "1.0.99.1.0.255",
        "--from",
        (now - timedelta(hours=2)).isoformat(),
        "--to",
        now.isoformat(),
    )
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(r["capture_time"] is not None for r in rows)
    times = {datetime.fromisoformat(r["capture_time"]) for r in rows}
    assert all(now - timedelta(hours=2) <= t <= now for t in times)
    assert len(times) >= 4  # 15-minute rows over two hours


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["read", "http://example.org:80"], "unknown scheme 'http'"),
        (["read", "dlms+tcp://host"], "needs a port"),
        (["read", "dlms+tcp://h:1?password=hunter2"], "environment"),
        (["read", "dlms+tcp://h:1", "--obis", "1.2.3"], "not an OBIS code"),
        (["read"], "give one device URL"),
        (["read", "--config", "nope.toml", "x"], "nope.toml: no such file"),
        ([], "usage"),
    ],
)
async def test_usage_errors_exit_2(args, needle):
    status, _out, err = await headend(*args)
    assert status == 2
    assert needle in err
    assert "Traceback" not in err and "hunter2" not in err


async def test_bad_config_names_file_and_key_path(tmp_path):
    config = tmp_path / "fleet.toml"
    config.write_text(
        '[[channels]]\nid = "c"\nhost = "h"\nport = 1\n'
        '[[meters]]\nid = "m"\nprotocol = "dlms"\nchannel = "c"\nauth = "hls"\n'
    )
    status, _out, err = await headend("read", "--config", str(config), "m")
    assert status == 2
    assert f"{config}: meters[0].auth:" in err and "Traceback" not in err


async def test_demo_read_end_to_end(tmp_path):
    db = tmp_path / "demo.sqlite3"
    status, out, err = await headend(
        "demo-read",
        "--config",
        str(ROOT / "config" / "demo.toml"),
        "--meters",
        "5",
        "--db",
        str(db),
        cwd=tmp_path,
    )
    assert status == 0, out + err
    assert "readings stored" in out
    with sqlite3.connect(db) as conn:
        meters = {row[0] for row in conn.execute("SELECT DISTINCT meter_id FROM readings")}
        count = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        contacts = conn.execute("SELECT COUNT(*) FROM meter_contact WHERE ok = 1").fetchone()[0]
    assert len(meters) == 5 and contacts == 5
    assert any(m.startswith("gprs-") for m in meters) and any(m.startswith("dc") for m in meters)
    assert str(count) in out

"""A fleet mixing DLMS, Modbus and DL/T 645 meters: simulated by `headend.simulation`, read by the
reading service and by `headend read --config` / `headend demo-read` as real subprocesses.

The simulation clock is frozen (`factor = 0`), so stored values must equal what each simulated
meter holds. One meter of each protocol is dead (it never answers): the others on its channel are
read, and it is reported with its reason.
"""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.modbus.registermap import map_points
from headend.config import ConfigError, load_config
from headend.reading import MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.conftest import free_port
from tests.dlt645.expected import expected_values
from tests.headend.subprocess_cli import ROOT, headend

FLEET = """
[site]
name = "mixed"
database = "{db}"

[reading]
retries = 1
backoff_s = 0.05

[simulation]
factor = 0.0
history = "PT2H"

[[channels]]
id = "gprs"
port = {p1}
host = "127.0.0.1"

[[channels]]
id = "gprs-dead"
port = {p2}
host = "127.0.0.1"

[[channels]]
id = "dc"
port = {p3}
host = "127.0.0.1"

[[channels]]
id = "gw"               # RS-485 gateway: Modbus RTU frames over TCP
port = {p4}
host = "127.0.0.1"

[[channels]]
id = "mbtcp"            # a Modbus TCP (MBAP) endpoint
port = {p5}
host = "127.0.0.1"
max_connections = 2

[[channels]]
id = "line"             # DL/T 645 line behind a serial-to-Ethernet converter
port = {p6}
host = "127.0.0.1"

{serial}

[[meters]]
id = "w-ok"
protocol = "dlms"
channel = "gprs"

[[meters]]
id = "w-dead"
protocol = "dlms"
channel = "gprs-dead"
timeout_s = 0.3

[[meters]]
id = "h-1"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 17

[[meters]]
id = "mb-1"
protocol = "modbus"
channel = "gw"
framing = "rtu"
unit_id = 1
model = "dtsu666"

[[meters]]
id = "mb-dead"
protocol = "modbus"
channel = "gw"
framing = "rtu"
unit_id = 3
model = "sdm120"
timeout_s = 0.3

[[meters]]
id = "mb-2"
protocol = "modbus"
channel = "gw"
framing = "rtu"
unit_id = 2
model = "sdm630"

[[meters]]
id = "mbt-1"
protocol = "modbus"
channel = "mbtcp"
unit_id = 1
model = "sdm120"

[[meters]]
id = "dl-1"
protocol = "dlt645"
channel = "line"
address = "230500000001"

[[meters]]
id = "dl-dead"
protocol = "dlt645"
channel = "line"
address = "230500000002"
timeout_s = 0.3

[[meters]]
id = "dl-2"
protocol = "dlt645"
channel = "line"
address = "230500000003"

{serial_meters}

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255", "1.0.1.8.1.255", "1.0.32.7.0.255", "0.0.1.0.0.255"]
profile = "1.0.99.1.0.255"
profile_window = "PT1H"
"""

SERIAL = """
[[channels]]
id = "rs485"            # Modbus RTU on a serial port (a pty in the simulation)
kind = "serial"
device = "/dev/ttyUSB0"
baud = 9600

[[channels]]
id = "dlt-serial"       # DL/T 645 on a serial port: 2400 8E1 as shipped
kind = "serial"
device = "/dev/ttyUSB1"
baud = 2400
parity = "E"
"""

SERIAL_METERS = """
[[meters]]
id = "mbs-1"
protocol = "modbus"
channel = "rs485"
unit_id = 5
model = "sdm630"

[[meters]]
id = "dls-1"
protocol = "dlt645"
channel = "dlt-serial"
address = "123456789012"
"""

DEAD = ["w-dead", "mb-dead", "dl-dead"]
MODBUS_OK = ["mb-1", "mb-2", "mbt-1", "mbs-1"]
DLT645_OK = ["dl-1", "dl-2", "dls-1"]


def write(tmp_path: Path, *, serial: bool = True) -> Path:
    path = tmp_path / "mixed.toml"
    ports = {f"p{i}": free_port() for i in range(1, 7)}
    path.write_text(
        FLEET.format(
            db=tmp_path / "site.sqlite3",
            serial=SERIAL if serial else "",
            serial_meters=SERIAL_METERS if serial else "",
            **ports,
        )
    )
    return path


async def test_reading_service_over_a_mixed_fleet_with_a_dead_meter_of_each_kind(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path), env={})
    async with simulated_fleet(config, silent=DEAD) as (sim, served):
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(served, store, contacts=store, counters=store)
            plan = served.fleet.plan("registers")
            jobs = {job.channel_id: job for job in service.jobs(plan)}
            # RS-485 behind a gateway or converter, and serial ports: one request at a time
            for half_duplex in ("gw", "line", "dc", "rs485", "dlt-serial"):
                assert jobs[half_duplex].concurrency == 1, half_duplex
            assert jobs["mbtcp"].concurrency == 2

            report = await service.run(plan)
            by_id = {m.meter_id: m for m in report.meters}
            assert sorted(by_id) == sorted(m.id for m in served.fleet.meters)

            for dead in DEAD:
                m = by_id[dead]
                assert m.status is MeterStatus.FAILED, m
                assert m.attempts == 2 and m.readings == 0
                assert m.error is not None and "timeout" in m.error, m.error
                assert m.failures and all("timeout" in f.reason for f in m.failures)
                contact = await store.last_contact(dead)
                assert contact is not None and not contact.ok
            # the dead Modbus unit was asked only for what its map has
            assert {f.obis for f in by_id["mb-dead"].failures} == {
                "1.0.1.8.0.255",
                "1.0.32.7.0.255",
            }

            for ok in ("w-ok", "h-1", *MODBUS_OK, *DLT645_OK):
                m = by_id[ok]
                assert m.status is MeterStatus.OK, m
                assert await store.count_readings(ok) == m.readings == m.stored

            # DLMS: every point and the profile; nothing skipped
            assert by_id["w-ok"].readings > 4 and by_id["w-ok"].skipped == []

            # Modbus: no tariff register, clock or profile in the maps: skipped, not failed
            for ok in MODBUS_OK:
                assert by_id[ok].skipped == ["1.0.1.8.1.255", "0.0.1.0.0.255", "1.0.99.1.0.255"]
                stored = {r.obis: r for r in await store.readings(meter_id=ok)}
                assert sorted(stored) == ["1.0.1.8.0.255", "1.0.32.7.0.255"]
                for obis, reading in stored.items():
                    assert reading.value == sim.meter(ok).value(obis), (ok, obis)
                assert stored["1.0.1.8.0.255"].unit == "Wh"
                assert stored["1.0.32.7.0.255"].unit == "V"

            # DL/T 645: registers and clock; its only profile is the daily freeze
            for ok in DLT645_OK:
                assert by_id[ok].skipped == ["1.0.99.1.0.255"]
                want = expected_values(sim.meter(ok))
                stored = {r.obis: r for r in await store.readings(meter_id=ok)}
                assert sorted(stored) == sorted(plan.points)
                for obis in ("1.0.1.8.0.255", "1.0.1.8.1.255", "1.0.32.7.0.255"):
                    assert stored[obis].value == want[obis], (ok, obis)
                assert stored["0.0.1.0.0.255"].value == sim.meter(ok).now().replace(microsecond=0)

            assert report.count(MeterStatus.OK) == len(by_id) - len(DEAD)
            assert report.count(MeterStatus.FAILED) == len(DEAD)


async def test_points_asked_by_name_fail_where_the_map_lacks_them(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, serial=False), env={})
    async with simulated_fleet(config) as (sim, served):
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            plan = served.fleet.plan("registers").model_copy(update={"skip_unsupported": False})
            report = await ReadingService(served, store).run(plan, ["mb-1", "dl-1"])
            by_id = {m.meter_id: m for m in report.meters}
            modbus = by_id["mb-1"]
            assert modbus.status is MeterStatus.PARTIAL and modbus.skipped == []
            assert {f.obis for f in modbus.failures} == {
                "1.0.1.8.1.255",
                "0.0.1.0.0.255",
                "1.0.99.1.0.255",
            }
            assert all(f.reason.startswith("unsupported") for f in modbus.failures)
            # what could be read was kept
            assert modbus.readings == 2 and await store.count_readings("mb-1") == 2
            dlt = by_id["dl-1"]
            assert dlt.status is MeterStatus.PARTIAL and dlt.readings == 4
            assert [f.obis for f in dlt.failures] == ["1.0.99.1.0.255"]
            assert sim.meter("mb-1") is not sim.meter("dl-1")


async def test_simulator_refuses_a_channel_mixing_protocols(tmp_path: Path) -> None:
    text = write(tmp_path, serial=False).read_text()
    text = text.replace(
        'channel = "line"\naddress = "230500000003"', 'channel = "gw"\naddress = "230500000003"'
    )
    path = tmp_path / "bad.toml"
    path.write_text(text)
    config = load_config(path, env={})
    with pytest.raises(ConfigError, match="one protocol per channel"):
        async with simulated_fleet(config):
            pass


async def test_cli_reads_a_mixed_fleet_by_meter_id(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, serial=False), env={})
    db = tmp_path / "cli.sqlite3"
    async with simulated_fleet(config, configured_ports=True, silent=["mb-dead"]) as (sim, _):
        status, out, err = await headend(
            "read", "--config", str(config.path), "w-ok", "mb-1", "dl-1", "--json", "--db", str(db)
        )
        assert status == 0, err
        assert err == ""
        rows = [json.loads(line) for line in out.splitlines()]
        by_meter: dict[str, dict[str, dict[str, str]]] = {}
        for row in rows:
            by_meter.setdefault(row["meter"], {})[row["obis"]] = row
        assert sorted(by_meter) == ["dl-1", "mb-1", "w-ok"]
        # without --obis: each meter's standard set (a Modbus meter's whole map)
        assert set(by_meter["mb-1"]) == {p.obis for p in map_points("dtsu666")}
        assert len(by_meter["dl-1"]) == 25
        for obis, row in by_meter["mb-1"].items():
            assert Decimal(row["value"]) == sim.meter("mb-1").value(obis), obis
        assert by_meter["dl-1"]["1.0.1.8.0.255"]["unit"] == "Wh"
        assert "1.0.1.8.0.255" in by_meter["w-ok"]

        # one dead unit: the others are read, its values fail one line each, exit 1
        status, out, err = await headend(
            "read",
            "--config",
            str(config.path),
            "mb-1",
            "mb-dead",
            "--obis",
            "1.0.1.8.0.255",
            "--obis",
            "1.0.32.7.0.255",
            "--json",
            "--db",
            str(db),
        )
        assert status == 1
        assert {json.loads(line)["meter"] for line in out.splitlines()} == {"mb-1"}
        lines = err.splitlines()
        assert len(lines) == 2, err
        assert lines[0].startswith("mb-dead 1.0.1.8.0.255: timeout")
        assert lines[1].startswith("mb-dead 1.0.32.7.0.255: timeout")
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT DISTINCT meter_id FROM readings")}
    assert stored == {"w-ok", "mb-1", "dl-1"}


async def test_demo_reads_all_three_protocols(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    status, out, err = await headend(
        "demo-read", "--config", str(ROOT / "config" / "demo.toml"), "--db", str(db), cwd=tmp_path
    )
    assert status == 0, out + err
    per_protocol: dict[str, list[int]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] in ("DLMS", "Modbus", "DL/T 645"):
            per_protocol[cells[0]] = [int(c) for c in cells[1:]]
    assert sorted(per_protocol) == ["DL/T 645", "DLMS", "Modbus"], out
    for name, (meters, ok, partial, failed, values) in per_protocol.items():
        assert meters > 1 and ok == meters and partial == failed == 0, name
        assert values >= meters, name
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT DISTINCT meter_id FROM readings")}
    assert any(m.startswith("mb-") for m in stored) and any(m.startswith("dlt-") for m in stored)

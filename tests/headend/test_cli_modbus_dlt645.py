"""`headend read` by Modbus and DL/T 645 URL, as a real subprocess against the real simulators
over TCP and over a pty. The simulated clock is frozen, so every value read must equal what the
simulated meter holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.modbus import load_map
from drivers.sim.clock import SimClock
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import PtyPair, open_pty
from tests.conftest import free_port
from tests.dlt645.expected import expected_values
from tests.headend.subprocess_cli import headend

# 11:00 in Shanghai; 30 hours of history cover a local midnight (for the daily freeze).
START = datetime(2024, 5, 2, 3, 0, tzinfo=UTC)
UNITS = {1: "dtsu666", 2: "sdm630", 3: "sdm120"}
ADDRESSES = ("123456789012", "000000000001")


@dataclass
class Sims:
    modbus: dict[int, SimModbusDevice]
    dlt645: dict[str, SimulatedMeter]
    mbap_port: int
    rtutcp_port: int
    modbus_pty: PtyPair
    dlt645_port: int
    dlt645_pty: PtyPair


@pytest.fixture
async def sims() -> AsyncIterator[Sims]:
    clock = SimClock(START, factor=0)  # frozen: values cannot move between read and check

    def meter(seed: int) -> SimulatedMeter:
        return SimulatedMeter(f"sim-{seed}", clock, seed=seed, history=timedelta(hours=30))

    devices = {u: SimModbusDevice(meter(u), load_map(m)) for u, m in UNITS.items()}
    lines = {a: meter(10 + i) for i, a in enumerate(ADDRESSES)}
    modbus_pty, dlt645_pty = open_pty(), open_pty()
    dlt = Dlt645Simulator(lines)
    async with ModbusSimServer(devices) as server:
        mbap = await server.serve_tcp("127.0.0.1", 0)
        rtutcp = await server.serve_tcp("127.0.0.1", 0, rtu=True)
        await server.serve_pty(modbus_pty.master_fd)
        tcp = await dlt.start_tcp("127.0.0.1", 0)
        line_task = asyncio.create_task(dlt.serve_pty(dlt645_pty.master_fd))
        try:
            yield Sims(
                devices,
                lines,
                mbap,
                rtutcp,
                modbus_pty,
                tcp.sockets[0].getsockname()[1],
                dlt645_pty,
            )
        finally:
            line_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await line_task
            tcp.close()
            await dlt.aclose()
            await tcp.wait_closed()
            modbus_pty.close()
            dlt645_pty.close()


def rows(out: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.splitlines()]


def check_modbus(out: str, device: SimModbusDevice, model: str, meter_id: str) -> list[str]:
    """Every row has the simulated value and the map's unit; returns the OBIS codes read."""
    register_map = load_map(model)
    got = rows(out)
    for row in got:
        entry = register_map.entry(row["obis"])
        assert entry is not None, row
        assert row["meter"] == meter_id and row["quality"] == "ok"
        assert Decimal(row["value"]) == device.meter.value(row["obis"]), row
        assert row["unit"] == entry.unit
    return [row["obis"] for row in got]


async def test_modbus_tcp_without_obis_reads_the_whole_map(sims: Sims) -> None:
    url = f"modbus+tcp://127.0.0.1:{sims.mbap_port}?unit=1&model=dtsu666"
    status, out, err = await headend("read", url, "--json", "--meter-id", "dtsu")
    assert status == 0, err
    assert err == ""
    read = check_modbus(out, sims.modbus[1], "dtsu666", "dtsu")
    assert read == [e.obis for e in load_map("dtsu666").registers]
    units = {r["obis"]: r["unit"] for r in rows(out)}
    assert units["1.0.1.8.0.255"] == "Wh" and units["1.0.32.7.0.255"] == "V"
    assert units["1.0.31.7.0.255"] == "A" and units["1.0.1.7.0.255"] == "W"
    assert units["1.0.14.7.0.255"] == "Hz"


async def test_modbus_rtu_over_tcp_gateway_with_obis(sims: Sims) -> None:
    url = f"modbus+rtutcp://127.0.0.1:{sims.rtutcp_port}?unit=3&model=sdm120"
    status, out, err = await headend(
        "read", url, "--obis", "1-0:1.8.0*255", "--obis", "1.0.32.7.0.255", "--json"
    )
    assert status == 0, err
    read = check_modbus(out, sims.modbus[3], "sdm120", url)
    assert read == ["1.0.1.8.0.255", "1.0.32.7.0.255"]
    energy = Decimal(rows(out)[0]["value"])
    assert energy > 1_000_000  # Wh: the kWh register was scaled by 1000


async def test_modbus_rtu_on_a_serial_port(sims: Sims) -> None:
    url = f"modbus+rtu://{sims.modbus_pty.slave_path}?baud=9600&parity=N&unit=2&model=sdm630"
    status, out, err = await headend("read", url, "--json", "--meter-id", "sdm630")
    assert status == 0, err
    read = check_modbus(out, sims.modbus[2], "sdm630", "sdm630")
    assert sorted(read) == sorted(e.obis for e in load_map("sdm630").registers)


async def test_modbus_table_output(sims: Sims) -> None:
    url = f"modbus+tcp://127.0.0.1:{sims.mbap_port}?unit=2&model=sdm630"
    status, out, err = await headend("read", url, "--obis", "1.0.32.7.0.255", "--meter-id", "t")
    assert status == 0, err
    value = sims.modbus[2].meter.value("1.0.32.7.0.255")
    assert "1.0.32.7.0.255" in out and format(value, "f") in out and " V " in out


async def test_dlt645_tcp_without_obis_reads_the_whole_table(sims: Sims) -> None:
    from drivers.dlt645 import default_points

    address = ADDRESSES[0]
    url = f"dlt645+tcp://127.0.0.1:{sims.dlt645_port}?address={address}"
    status, out, err = await headend("read", url, "--json", "--meter-id", "dlt")
    assert status == 0, err
    assert err == ""
    got = {r["obis"]: r for r in rows(out)}
    assert sorted(got) == sorted(p.obis for p in default_points())
    want = expected_values(sims.dlt645[address])
    for obis, value in want.items():
        assert Decimal(got[obis]["value"]) == value, obis
    units = {obis: r["unit"] for obis, r in got.items()}
    assert units["1.0.1.8.0.255"] == "Wh" and units["1.0.2.8.0.255"] == "Wh"
    assert units["1.0.32.7.0.255"] == "V" and units["1.0.31.7.0.255"] == "A"
    assert units["1.0.1.7.0.255"] == "W" and units["1.0.1.8.0.101"] == "Wh"
    assert datetime.fromisoformat(got["0.0.1.0.0.255"]["value"]) == START
    # the daily freeze carries its own capture time: the last local midnight (16:00 UTC)
    frozen = datetime.fromisoformat(got["1.0.1.8.0.101"]["capture_time"])
    assert frozen == datetime(2024, 5, 1, 16, 0, tzinfo=UTC)


async def test_dlt645_on_a_serial_line(sims: Sims) -> None:
    address = ADDRESSES[1]
    # pseudo-terminals refuse even parity, so this simulated line runs 8N1
    url = f"dlt645+serial://{sims.dlt645_pty.slave_path}?baud=2400&parity=N&address={address}"
    status, out, err = await headend(
        "read", url, "--obis", "1.0.1.8.0.255", "--obis", "1.0.32.7.0.255", "--json"
    )
    assert status == 0, err
    want = expected_values(sims.dlt645[address])
    got = rows(out)
    assert [r["obis"] for r in got] == ["1.0.1.8.0.255", "1.0.32.7.0.255"]
    assert [Decimal(r["value"]) for r in got] == [want["1.0.1.8.0.255"], want["1.0.32.7.0.255"]]
    assert [r["unit"] for r in got] == ["Wh", "V"]


async def test_dead_modbus_unit_exit_1_one_line_per_value(sims: Sims) -> None:
    url = f"modbus+rtutcp://127.0.0.1:{sims.rtutcp_port}?unit=9&model=dtsu666&timeout=0.3"
    status, out, err = await headend(
        "read",
        url,
        "--meter-id",
        "gw-unit9",
        "--retries",
        "0",
        "--obis",
        "1.0.1.8.0.255",
        "--obis",
        "1.0.32.7.0.255",
        "--json",
    )
    assert status == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("gw-unit9 1.0.1.8.0.255: timeout")
    assert lines[1].startswith("gw-unit9 1.0.32.7.0.255: timeout")
    assert all("unit 9" in line for line in lines)


async def test_dead_dlt645_address_exit_1_one_line_per_value(sims: Sims) -> None:
    url = f"dlt645+tcp://127.0.0.1:{sims.dlt645_port}?address=999999999998&timeout=0.3"
    status, out, err = await headend(
        "read",
        url,
        "--meter-id",
        "dlt-dead",
        "--retries",
        "0",
        "--obis",
        "1.0.1.8.0.255",
        "--obis",
        "0.0.1.0.0.255",
    )
    assert status == 1
    assert "1.0.1.8.0.255" not in out  # nothing read, only the (empty) table title
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("dlt-dead 1.0.1.8.0.255: timeout")
    assert lines[1].startswith("dlt-dead 0.0.1.0.0.255: timeout")
    assert "Traceback" not in err


async def test_unmapped_point_fails_alone(sims: Sims) -> None:
    url = f"modbus+tcp://127.0.0.1:{sims.mbap_port}?unit=3&model=sdm120"
    status, out, err = await headend(
        "read",
        url,
        "--meter-id",
        "m",
        "--json",
        "--obis",
        "1.0.1.8.0.255",
        "--obis",
        "0.0.1.0.0.255",
    )
    assert status == 1
    assert [r["obis"] for r in rows(out)] == ["1.0.1.8.0.255"]
    assert err.splitlines() == ["m 0.0.1.0.0.255: unsupported: model sdm120 maps no register to it"]


@pytest.mark.parametrize(
    "url",
    [
        "modbus+tcp://127.0.0.1:1?unit=1&model=dtsu999",
        "modbus+rtu:///dev/ttyX?baud=9600&parity=N&unit=1&model=nosuch",
        "modbus+rtutcp://127.0.0.1:1?unit=1&model=SDM12",
    ],
)
async def test_bad_model_exit_2_lists_known_models(url: str) -> None:
    status, out, err = await headend("read", url)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert "no register map for model" in err
    assert "known models: dtsu666, hes-limiter, sdm120, sdm630" in err
    assert "Traceback" not in err and "Value error" not in err


async def test_dlt645_bad_address_exit_2() -> None:
    status, _out, err = await headend("read", f"dlt645+tcp://127.0.0.1:{free_port()}?address=12")
    assert status == 2 and len(err.splitlines()) == 1 and "address" in err

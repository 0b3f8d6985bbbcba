"""The simulator-only "hes-limiter" Modbus model over TCP: relay, a limit with a lease that the
simulated meter drops by itself, renewal, and a strict map for lease registers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Command, CommandKind, Point
from drivers.errors import Unsupported
from drivers.modbus import load_map, open_session
from drivers.modbus.registermap import parse_map
from drivers.modbus.session import ModbusSession
from drivers.modbus.settings import ModbusFraming, ModbusSettings
from drivers.sim.clock import SimClock
from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink
from tests.commands_drivers.conftest import FLAT_1KW, NOON

POWER, ENERGY = "1.0.1.7.0.255", "1.0.1.8.0.255"


@dataclass
class Unit:
    clock: SimClock
    device: SimModbusDevice
    session: ModbusSession

    @property
    def meter(self) -> SimulatedMeter:
        return self.device.meter

    async def value(self, obis: str) -> Decimal:
        [reading] = await self.session.read([Point(obis=obis)])
        assert isinstance(reading.value, Decimal)
        return reading.value

    async def limit(self, watts: int, lease_s: int | None = None) -> str:
        result = await self.session.execute(
            Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(watts), lease_s=lease_s)
        )
        assert result.ok, result.detail
        return result.detail


def settings(port: int, model: str = "hes-limiter", maps: Path | None = None) -> ModbusSettings:
    return ModbusSettings(
        link=TcpLink(host="127.0.0.1", port=port),
        framing=ModbusFraming.SOCKET,
        unit=1,
        model=model,
        maps_dir=maps,
        timeout_s=2.0,
    )


@pytest.fixture
async def unit(tcp_port: int) -> AsyncIterator[Unit]:
    clock = SimClock(start=NOON, factor=0)
    meter = SimulatedMeter("mb1", clock, profile=FLAT_1KW, history=timedelta(hours=1))
    device = SimModbusDevice(meter, load_map("hes-limiter"))
    async with ModbusSimServer({1: device}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await open_session(settings(tcp_port), meter_id="mb1") as session:
            yield Unit(clock, device, session)


async def test_the_map_reads_like_any_meter(unit: Unit) -> None:
    readings = await unit.session.read(unit.session.points())
    assert {r.obis: r.value for r in readings} == {
        r.obis: unit.device.value(r.obis) for r in readings
    }
    assert await unit.value(POWER) == 1000


async def test_relay_disconnects_and_reconnects(unit: Unit) -> None:
    off = await unit.session.execute(Command(kind=CommandKind.DISCONNECT))
    assert off.ok and not unit.meter.connected and await unit.value(POWER) == 0
    on = await unit.session.execute(Command(kind=CommandKind.RECONNECT))
    assert on.ok and unit.meter.connected and await unit.value(POWER) == 1000


async def test_a_leased_limit_is_dropped_by_the_meter_at_the_lease_end(unit: Unit) -> None:
    before = await unit.value(ENERGY)
    detail = await unit.limit(400, lease_s=600)
    assert "leased for 600 s" in detail
    assert await unit.value(POWER) == 400
    unit.clock.advance(timedelta(hours=1))
    assert await unit.value(POWER) == 1000
    assert unit.meter.active_limit_w() is None
    # 10 minutes at 400 W, 50 at 1 kW, in whole Wh
    assert await unit.value(ENERGY) - before in (899, 900, 901)
    # the limit register reads the limit in force: 0 once the lease ran out
    assert unit.device.handle(bytes([3, 0x01, 0x02, 0, 2])) == bytes([3, 4, 0, 0, 0, 0])


async def test_renewal_extends_and_a_plain_limit_does_not_inherit_a_lease(unit: Unit) -> None:
    await unit.limit(400, lease_s=600)
    unit.clock.advance(timedelta(seconds=500))
    await unit.limit(400, lease_s=600)  # renewed
    unit.clock.advance(timedelta(seconds=500))
    assert await unit.value(POWER) == 400
    await unit.limit(800)  # no lease: written with lease 0, so it stays
    unit.clock.advance(timedelta(hours=2))
    assert await unit.value(POWER) == 800
    cleared = await unit.session.execute(Command(kind=CommandKind.CLEAR_LOAD_LIMIT))
    assert cleared.ok and unit.meter.active_limit_w() is None
    assert await unit.value(POWER) == 1000


NO_LEASE = """
model = "nolease"
[[registers]]
obis = "1.0.1.7.0.255"
function = 4
address = 0
data_type = "uint32"
[[commands]]
kind = "set_load_limit"
address = 0x0102
data_type = "uint32"
"""


async def test_a_leased_limit_on_a_model_without_lease_register_is_refused(
    tmp_path: Path, tcp_port: int
) -> None:
    (tmp_path / "nolease.toml").write_text(NO_LEASE, encoding="utf-8")
    clock = SimClock(start=NOON, factor=0)
    meter = SimulatedMeter("mb2", clock, profile=FLAT_1KW, history=timedelta(hours=1))
    device = SimModbusDevice(meter, load_map("nolease", tmp_path))
    async with ModbusSimServer({1: device}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await open_session(settings(tcp_port, "nolease", tmp_path), meter_id="mb2") as s:
            with pytest.raises(Unsupported, match="no lease register"):
                await s.execute(
                    Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(500), lease_s=60)
                )
            plain = await s.execute(Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(500)))
    assert plain.ok and meter.limit_w == 500.0 and meter.active_limit_w() == 500.0


LIMIT = 'kind = "set_load_limit"\naddress = 2\ndata_type = "uint32"\n'
RELAY = 'kind = "disconnect"\naddress = 0x0100\nfunction = 6\ndata_type = "uint16"\nvalue = 0\n'


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (RELAY + 'lease = { address = 9, data_type = "uint16" }', "only set_load_limit"),
        (LIMIT + 'lease = { address = 9, data_type = "float32" }', "unsigned"),
        (LIMIT + 'lease = { address = 9, data_type = "int32" }', "unsigned"),
        (LIMIT + 'lease = { address = 3, data_type = "uint32" }', "overlaps"),
        (LIMIT + 'lease = { address = 9, data_type = "uint32", scale = "60" }', "scale"),
        (LIMIT + "lease = { address = 9, colour = 1 }", "Extra inputs"),
    ],
)
def test_lease_registers_are_validated_strictly(command: str, reason: str) -> None:
    registers = NO_LEASE.split("[[commands]]")[0]
    with pytest.raises(ValueError, match=reason):
        parse_map(f"{registers}[[commands]]\n{command}\n")
    assert parse_map(f"{registers}[[commands]]\n{LIMIT}lease = {{ address = 9 }}\n")

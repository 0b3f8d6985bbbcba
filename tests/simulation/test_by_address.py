"""GPRS meters dialled by address: one wildcard listener, the local address picks the meter."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.by_address import local_address, loopback_peer
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import IMPORT_TOTAL, SimulatedMeter
from headend.config import ReadingPlan, load_config
from headend.config.fleet import TcpChannel
from headend.reading import MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.simulation.generator import FleetShape, generate, to_toml
from headend.store import SqliteStore
from tests.conftest import free_port


def _non_loopback_address() -> str | None:
    """An address of this machine off loopback (to dial the wildcard listener from it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def _closed_at_once(host: str, port: int, source: str | None = None) -> bool:
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(source, 0) if source else None
    )
    try:
        writer.write(b"\x00\x01\x00\x10\x00\x01\x00\x05hello")  # a wrapper frame header
        async with asyncio.timeout(10):  # hang guard: a refused peer is closed at once
            data = await reader.read(100)
        return data == b""
    except ConnectionResetError:
        return True
    finally:
        writer.close()


async def test_one_port_many_addresses_read_through_the_reading_path(tmp_path):
    data = generate(FleetShape(meters=6, cipher_share=0.5, gprs_port=free_port()))
    path = tmp_path / "fleet.toml"
    path.write_text(to_toml(data))
    config = load_config(path)
    async with simulated_fleet(config, keep_dialled_ports=True, prebuild=False) as (sim, served):
        assert not sim.meters  # built when dialled, not before
        ports = {c.port for c in served.fleet.channels if isinstance(c, TcpChannel)}
        assert ports == {data["channels"][0]["port"]}
        simulators = {id(sim.by_channel[c.id]) for c in served.fleet.channels}
        assert len(simulators) == 1  # one simulator, one listening socket for all six
        plan = ReadingPlan(name="energy", points=[IMPORT_TOTAL, "0.0.1.0.0.255"])
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            report = await ReadingService(served, store, contacts=store, counters=store).run(plan)
            assert [m.status for m in report.meters] == [MeterStatus.OK] * 6, report.meters
            stored = await store.readings(obis=IMPORT_TOTAL)
    by_meter = {r.meter_id: r.value for r in stored}
    assert sorted(by_meter) == [f"gprs-{i:06d}" for i in range(1, 7)]
    assert len(set(by_meter.values())) == 6  # six distinct simulated meters answered
    for meter_id, value in by_meter.items():
        # each address reached its own meter: the value read is that meter's (energy only grows)
        assert value <= sim.meter(meter_id).value(IMPORT_TOTAL)
        assert value > sim.meter(meter_id).value(IMPORT_TOTAL) - 50_000


async def test_an_address_without_a_meter_and_a_non_loopback_peer_are_closed_at_once():
    clock = SimClock(start=datetime(2024, 1, 1, tzinfo=UTC), factor=0)
    port = free_port()
    async with DlmsSimulator(clock) as sim:
        sim.add_meter(SimulatedMeter("a", clock, history=timedelta(0)))
        await sim.serve_wrapper_by_address({"127.1.0.1": "a"}, port=port)
        assert await _closed_at_once("127.1.0.9", port)
        assert sim.refused == 1
        outside = _non_loopback_address()
        if outside is None:
            pytest.skip("no address off loopback on this machine (the filter is tested below)")
        assert await _closed_at_once(outside, port, source=outside)
        assert sim.refused == 2


def test_the_accept_filter_takes_loopback_peers_only():
    assert loopback_peer(("127.0.0.1", 5000))
    assert loopback_peer(("127.200.3.4", 5000))
    assert loopback_peer(("::1", 5000, 0, 0))
    assert loopback_peer(("::ffff:127.1.0.7", 5000, 0, 0))
    assert not loopback_peer(("192.0.2.2", 5000))
    assert not loopback_peer(("::ffff:10.0.0.1", 5000, 0, 0))
    assert not loopback_peer(None)
    assert not loopback_peer(("not an address", 1))
    assert local_address(("::ffff:127.1.0.7", 4059, 0, 0)) == "127.1.0.7"
    assert local_address(None) is None

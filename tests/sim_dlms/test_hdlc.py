"""The simulator over HDLC: several meters behind one TCP port (a concentrator's transparent
channel) and on one serial line (a pty), read by dlms-cosem's `HdlcTransport`."""

from __future__ import annotations

import asyncio

from dlms_cosem.client import DlmsClient
from dlms_cosem.io import HdlcTransport, SerialIO

from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from tests.sim_dlms import cosem_reads as r
from tests.sim_dlms.conftest import _client, hdlc_client, hls, lls

PUBLIC, READER, MANAGEMENT = 16, 17, 1


async def test_two_meters_behind_one_port_answer_by_physical_address(
    sim: DlmsSimulator,
) -> None:
    sim.add_meter(SimulatedMeter("M2", sim.clock, seed=2))
    port = await sim.serve_hdlc_tcp(["M1", "M2"])
    assert (sim.physical_address("M1"), sim.physical_address("M2")) == (16, 17)

    def read(physical: int) -> bytes:
        client = hdlc_client(port, PUBLIC, physical)
        with client.session():
            target = r.cosem.CosemAttribute(
                r.enums.CosemInterface.DATA, r.obis("0.0.96.1.0.255"), 2
            )
            return bytes(r.get_value(client, target))

    assert await asyncio.to_thread(read, 16) == b"M1"
    assert await asyncio.to_thread(read, 17) == b"M2"


async def test_hdlc_segments_a_long_profile_and_lls_acts(sim: DlmsSimulator) -> None:
    port = await sim.serve_hdlc_tcp(["M1"])
    meter = sim.meter("M1")

    def run() -> int:
        client = hdlc_client(port, READER, 16, auth=lls(b"12345678"))
        with client.session():
            rows = client.get(
                r.cosem.CosemAttribute(r.enums.CosemInterface.PROFILE_GENERIC, r.LOAD_PROFILE, 2)
            )
            r.disconnector(client, 1)
        return len(r.utils.parse_as_dlms_data(rows))

    count = await asyncio.to_thread(run)
    assert count == len(meter.load_profile) > 100  # kilobytes: many 128-byte I-frames
    assert not meter.connected


async def test_hdlc_with_hls_gmac(sim: DlmsSimulator) -> None:
    port = await sim.serve_hdlc_tcp(["M1"])
    secrets = sim.secrets("M1")
    keys = (secrets.block_key, secrets.auth_key)

    def run() -> tuple[int, int, int]:
        client = hdlc_client(port, MANAGEMENT, 16, auth=hls(), keys=keys)
        with client.session():
            return r.read_register(client, "1.0.2.8.0.255")

    assert (await asyncio.to_thread(run))[1:] == (0, 30)


async def test_hdlc_on_a_serial_line(sim: DlmsSimulator) -> None:
    sim.add_meter(SimulatedMeter("M2", sim.clock, seed=2))
    path = await sim.serve_hdlc_pty(["M1", "M2"])

    def run(physical: int) -> tuple[int, int, int]:
        transport = HdlcTransport(
            client_logical_address=PUBLIC,
            server_logical_address=1,
            server_physical_address=physical,
            io=SerialIO(port_name=path, baud_rate=9600, timeout=5),
        )
        client: DlmsClient = _client(transport, None, None, b"HEADEND1", 0, 65535)
        with client.session():
            return r.read_register(client, "1.0.1.8.0.255")

    first = await asyncio.to_thread(run, 17)
    assert first == (int(sim.meter("M2").value("1.0.1.8.0.255")), 0, 30)
    second = await asyncio.to_thread(run, 16)
    assert second[0] == int(sim.meter("M1").value("1.0.1.8.0.255"))

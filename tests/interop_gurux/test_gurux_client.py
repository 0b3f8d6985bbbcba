"""Gurux's GXDLMSSecureClient (blocking, in a thread) against our DLMS simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from gurux_dlms import GXDateTime
from gurux_dlms.enums import Authentication, DataType
from gurux_dlms.objects import (
    GXDLMSClock,
    GXDLMSDisconnectControl,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)

from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import CLOCK, IMPORT_TOTAL, LOAD_PROFILE, VOLTAGE, SimulatedMeter

from .conftest import CLIENT_TITLE, DISCONNECT
from .gurux_client import GuruxClient

START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
HANG_GUARD_S = 15.0


@pytest.fixture
async def sim() -> AsyncIterator[DlmsSimulator]:
    clock = SimClock(start=START, factor=0.0)
    async with DlmsSimulator(clock) as simulator:
        simulator.add_meter(SimulatedMeter("M1", clock, seed=1))
        yield simulator


def session(sim: DlmsSimulator, port: int, framing: str, auth: str) -> GuruxClient:
    secrets = sim.secrets("M1")
    hdlc = framing == "hdlc"
    server = (1 << 14 | sim.physical_address("M1")) if hdlc else 1
    if auth == "lls":
        return GuruxClient(
            port,
            hdlc=hdlc,
            server_address=server,
            client_address=17,
            auth=Authentication.LOW,
            password=secrets.password,
        )
    if auth == "hls":
        keys = (CLIENT_TITLE, secrets.block_key, secrets.auth_key)
        return GuruxClient(
            port,
            hdlc=hdlc,
            server_address=server,
            client_address=1,
            auth=Authentication.HIGH_GMAC,
            keys=keys,
        )
    return GuruxClient(port, hdlc=hdlc, server_address=server, client_address=16)


def gurux_session(client: GuruxClient, start: datetime, end: datetime) -> dict[str, object]:
    client.open()
    try:
        energy = GXDLMSRegister(IMPORT_TOTAL)
        client.read(energy, 3)
        client.read(energy, 2)
        voltage = GXDLMSRegister(VOLTAGE[0])
        client.read(voltage, 3)
        client.read(voltage, 2)
        clock = GXDLMSClock(CLOCK)
        client.read(clock, 2)
        profile = GXDLMSProfileGeneric(LOAD_PROFILE)
        client.read(profile, 3)
        rows = client.rows_by_range(profile, GXDateTime(start), GXDateTime(end))
        switch = GXDLMSDisconnectControl(DISCONNECT)
        refused = client.method(switch, 1, 0, DataType.INT8).error
        client.read(switch, 2)
        return {
            "energy": (energy.value, energy.scaler, int(energy.unit)),
            "voltage": (voltage.value, voltage.scaler, int(voltage.unit)),
            "clock": clock.time.value,
            "columns": [(k.logicalName, v.attributeIndex) for k, v in profile.captureObjects],
            "rows": rows,
            "refused": refused,
            "output": switch.outputState,
        }
    finally:
        client.close()


@pytest.mark.parametrize("auth", ["none", "lls", "hls"])
@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_gurux_client_reads_and_commands_our_simulator(
    sim: DlmsSimulator, framing: str, auth: str
) -> None:
    port = await (sim.serve_wrapper("M1") if framing == "wrapper" else sim.serve_hdlc_tcp(["M1"]))
    meter = sim.meter("M1")
    end = START
    start = end - timedelta(hours=1)
    client = await asyncio.to_thread(session, sim, port, framing, auth)
    async with asyncio.timeout(HANG_GUARD_S):
        got = await asyncio.to_thread(gurux_session, client, start, end)
    # Gurux applies the scaler it read (attribute 3) to the value
    value, scaler, unit = got["energy"]  # type: ignore[misc]
    assert (Decimal(str(value)), scaler, unit) == (meter.value(IMPORT_TOTAL), 1.0, 30)
    value, scaler, unit = got["voltage"]  # type: ignore[misc]
    assert Decimal(str(value)) == meter.value(VOLTAGE[0]) and (scaler, unit) == (0.1, 35)
    assert got["clock"] == START
    assert (CLOCK, 2) in got["columns"] and (IMPORT_TOTAL, 2) in got["columns"]  # type: ignore[operator]
    assert len(got["rows"]) == len(meter.profile_rows(start, end))  # type: ignore[arg-type]
    if auth == "none":
        # the public client (16) may read, not command
        assert got["refused"] != 0 and got["output"] is True and meter.connected
    else:
        assert got["refused"] == 0 and got["output"] is False and not meter.connected

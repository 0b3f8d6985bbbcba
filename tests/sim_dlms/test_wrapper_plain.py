"""The simulator over the wrapper, read by dlms-cosem's own client: public (16) and LLS (17)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from dlms_cosem import enumerations as enums
from dlms_cosem.client import ActionError
from dlms_cosem.exceptions import DlmsClientException
from dlms_cosem.protocol import xdlms

from drivers.sim.dlms_sim import DlmsSimulator
from tests.sim_dlms import cosem_reads as r
from tests.sim_dlms.conftest import START, lls, wrapper_client

PUBLIC, READER = 16, 17


async def test_public_client_reads_registers_with_scaler_and_unit(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")

    def run() -> dict[str, tuple[int, int, int]]:
        client = wrapper_client(port, PUBLIC)
        with client.session():
            return {
                o: r.read_register(client, o)
                for o in ("1.0.1.8.0.255", "1.0.32.7.0.255", "1.0.31.7.0.255", "1.0.1.7.0.255")
            }

    got = await asyncio.to_thread(run)
    assert got["1.0.1.8.0.255"] == (int(meter.value("1.0.1.8.0.255")), 0, 30)  # Wh
    value, scaler, unit = got["1.0.32.7.0.255"]
    assert (scaler, unit) == (-1, 35)  # V in 0.1 V
    assert value == int(meter.value("1.0.32.7.0.255") * 10)
    value, scaler, unit = got["1.0.31.7.0.255"]
    assert (scaler, unit) == (-3, 33)  # A in mA
    assert value == int(meter.value("1.0.31.7.0.255") * 1000)
    assert got["1.0.1.7.0.255"][1:] == (0, 27)  # W


async def test_public_client_reads_the_clock_and_serial(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> tuple[bytes, bytes]:
        client = wrapper_client(port, PUBLIC)
        with client.session():
            serial = r.get_value(
                client,
                r.cosem.CosemAttribute(enums.CosemInterface.DATA, r.obis("0.0.96.1.0.255"), 2),
            )
            return bytes(r.get_value(client, r.CLOCK)), bytes(serial)

    clock, serial = await asyncio.to_thread(run)
    assert serial == b"M1"
    assert len(clock) == 12
    assert int.from_bytes(clock[0:2], "big") == START.year
    assert (clock[2], clock[3], clock[5], clock[6]) == (START.month, START.day, 12, 0)


async def test_public_client_may_not_set_or_act(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> tuple[object, str]:
        client = wrapper_client(port, PUBLIC)
        with client.session():
            result = r.set_limit(client, 1000)
            with pytest.raises(ActionError) as refused:
                r.disconnector(client, 1)
            return result, str(refused.value)

    result, refused = await asyncio.to_thread(run)
    assert isinstance(result, xdlms.SetResponseNormal)
    assert result.result == enums.DataAccessResult.READ_WRITE_DENIED
    assert "READ_WRITE_DENIED" in refused
    assert sim.meter("M1").connected
    assert sim.meter("M1").limit_w is None


async def test_unknown_object_and_attribute_are_object_undefined(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> list[str]:
        client = wrapper_client(port, PUBLIC)
        errors = []
        with client.session():
            for target in (r.register("1.0.99.8.0.255"), r.register("1.0.1.8.0.255", 9)):
                with pytest.raises(Exception) as failed:
                    client.get(target)
                errors.append(str(failed.value))
        return errors

    errors = await asyncio.to_thread(run)
    assert all("OBJECT_UNDEFINED" in e for e in errors), errors


async def test_load_profile_range_read_uses_block_transfer(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")
    start, end = START - timedelta(hours=10), START - timedelta(hours=2)

    def run() -> list[list[object]]:
        client = wrapper_client(port, PUBLIC, max_pdu=128)  # 33 rows do not fit in 128 bytes
        with client.session():
            return r.profile_range(client, start, end)

    rows = await asyncio.to_thread(run)
    expected = meter.profile_rows(start, end)
    assert len(rows) == len(expected) == 33
    for row, want in zip(rows, expected, strict=True):
        clock = bytes(row[0])
        assert (clock[5], clock[6]) == (want.clock.hour, want.clock.minute)
        assert row[1:] == [int(want.import_wh), int(want.export_wh)]


async def test_lls_sets_clock_and_limiter_and_disconnects(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")
    new_time = START + timedelta(minutes=7)

    def run() -> tuple[object, object]:
        client = wrapper_client(port, READER, auth=lls(b"12345678"))
        with client.session():
            clock_result = r.set_clock(client, new_time)
            limit_result = r.set_limit(client, 1500)
            r.disconnector(client, 1)
        return clock_result, limit_result

    clock_result, limit_result = await asyncio.to_thread(run)
    assert clock_result.result == enums.DataAccessResult.SUCCESS
    assert limit_result.result == enums.DataAccessResult.SUCCESS
    assert meter.now() == new_time
    assert meter.limit_w == 1500
    assert not meter.connected


async def test_disconnected_meter_stops_counting_until_reconnected(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")
    meter.clock.set(START.replace(hour=19))  # evening peak: the household imports

    def energy_and_power(client: object) -> tuple[int, int]:
        return r.read_register(client, "1.0.1.8.0.255")[0], r.read_register(
            client, "1.0.1.7.0.255"
        )[0]

    def session(action: int | None) -> tuple[int, int]:
        client = wrapper_client(port, READER, auth=lls(b"12345678"))
        with client.session():
            if action is not None:
                r.disconnector(client, action)
            return energy_and_power(client)

    before, power_before = await asyncio.to_thread(session, 1)
    assert power_before == 0
    meter.clock.advance(timedelta(hours=1))
    after, power_after = await asyncio.to_thread(session, None)
    assert (after, power_after) == (before, 0)
    reconnected, power = await asyncio.to_thread(session, 2)
    assert power > 0
    meter.clock.advance(timedelta(minutes=30))
    later, _ = await asyncio.to_thread(session, None)
    assert later > reconnected


async def test_wrong_password_is_rejected(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> str:
        client = wrapper_client(port, READER, auth=lls(b"wrong-pw"))
        client.connect()
        try:
            with pytest.raises(DlmsClientException) as refused:
                client.associate()
        finally:
            client.disconnect()
        return str(refused.value)

    refused = await asyncio.to_thread(run)
    assert "REJECTED_PERMANENT" in refused
    assert "AUTHENTICATION_FAILED" in refused


async def test_lls_needs_its_mechanism(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> str:
        client = wrapper_client(port, READER)  # no authentication on the LLS client address
        client.connect()
        try:
            with pytest.raises(DlmsClientException) as refused:
                client.associate()
        finally:
            client.disconnect()
        return str(refused.value)

    assert "AUTHENTICATION_MECHANISM_NAME_REQUIRED" in await asyncio.to_thread(run)

"""Failure knobs of the simulator, seen on the wire: closing after N requests, silence, garbage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from dlms_cosem import cosem
from dlms_cosem import enumerations as enums
from dlms_cosem.connection import make_conformance
from dlms_cosem.protocol import acse, xdlms

from drivers.dlms.wrapper import WrapperDecoder, WrapperFrame, encode_wrapper
from drivers.errors import MalformedFrame
from drivers.sim.dlms_sim import DlmsFaults, DlmsSimulator
from drivers.sim.physics import SimulatedMeter

HANG_GUARD = 5.0
AARQ_PUBLIC = acse.ApplicationAssociationRequest(
    user_information=acse.UserInformation(
        content=xdlms.InitiateRequest(proposed_conformance=make_conformance(None, False))
    )
).to_bytes()
GET_SERIAL = xdlms.GetRequestNormal(
    cosem.CosemAttribute(enums.CosemInterface.DATA, cosem.Obis(0, 0, 96, 1, 0), 2)
).to_bytes()


def _frame(apdu: bytes) -> bytes:
    return encode_wrapper(WrapperFrame(source=16, destination=1, apdu=apdu))


async def _reply(reader: asyncio.StreamReader) -> bytes:
    decoder = WrapperDecoder()
    while (frame := decoder.next_frame()) is None:
        data = await asyncio.wait_for(reader.read(4096), HANG_GUARD)
        if not data:
            raise ConnectionError("closed")
        decoder.feed(data)
    return frame.apdu


@contextlib.asynccontextmanager
async def _connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def _add(sim: DlmsSimulator, meter_id: str, faults: DlmsFaults) -> None:
    sim.add_meter(SimulatedMeter(meter_id, sim.clock, seed=3), faults=faults)


async def test_meter_closes_after_n_requests(sim: DlmsSimulator) -> None:
    _add(sim, "C1", DlmsFaults(close_after=2))
    port = await sim.serve_wrapper("C1")
    async with _connection(port) as (reader, writer):
        writer.write(_frame(AARQ_PUBLIC))
        assert (await _reply(reader))[0] == 0x61  # AARE
        writer.write(_frame(GET_SERIAL))
        assert (await _reply(reader))[0] == 0xC4
        writer.write(_frame(GET_SERIAL))
        assert await asyncio.wait_for(reader.read(4096), HANG_GUARD) == b""  # closed


async def test_silent_meter_never_answers(sim: DlmsSimulator) -> None:
    _add(sim, "S1", DlmsFaults(silent=True))
    port = await sim.serve_wrapper("S1")
    async with _connection(port) as (reader, writer):
        writer.write(_frame(AARQ_PUBLIC))
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(4096), 0.3)


async def test_garbage_meter_answers_no_frame(sim: DlmsSimulator) -> None:
    _add(sim, "G1", DlmsFaults(garbage=True))
    port = await sim.serve_wrapper("G1")
    async with _connection(port) as (reader, writer):
        writer.write(_frame(AARQ_PUBLIC))
        with pytest.raises(MalformedFrame):
            await _reply(reader)


async def test_malformed_request_closes_only_that_connection(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    async with _connection(port) as (reader, writer):
        writer.write(b"\x00\x07garbage!")
        assert await asyncio.wait_for(reader.read(4096), HANG_GUARD) == b""
    async with _connection(port) as (reader, writer):
        writer.write(_frame(AARQ_PUBLIC))
        assert (await _reply(reader))[0] == 0x61

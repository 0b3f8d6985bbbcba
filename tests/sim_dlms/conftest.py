"""Fixtures for the DLMS simulator tests: a simulator on loopback and dlms-cosem's own client.

dlms-cosem's blocking `DlmsClient` is the independent peer: it runs in a thread
(`asyncio.to_thread`) while the simulator serves in the test's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import structlog
from dlms_cosem import enumerations as enums
from dlms_cosem import security
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, HdlcTransport, TcpTransport

from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
CLIENT_TITLE = b"HEADEND1"
TIMEOUT = 5


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=START, factor=0.0)


@pytest.fixture
async def sim(clock: SimClock) -> AsyncIterator[DlmsSimulator]:
    async with DlmsSimulator(clock) as simulator:
        simulator.add_meter(SimulatedMeter("M1", clock, seed=1))
        yield simulator


def wrapper_client(
    port: int,
    client: int,
    *,
    auth: object | None = None,
    keys: tuple[bytes, bytes] | None = None,
    title: bytes = CLIENT_TITLE,
    counter: int = 0,
    max_pdu: int = 65535,
) -> DlmsClient:
    transport = TcpTransport(
        client_logical_address=client,
        server_logical_address=1,
        io=BlockingTcpIO("127.0.0.1", port, timeout=TIMEOUT),
        timeout=TIMEOUT,
    )
    return _client(transport, auth, keys, title, counter, max_pdu)


def hdlc_client(
    port: int,
    client: int,
    physical: int,
    *,
    auth: object | None = None,
    keys: tuple[bytes, bytes] | None = None,
    title: bytes = CLIENT_TITLE,
    counter: int = 0,
    max_pdu: int = 65535,
) -> DlmsClient:
    transport = HdlcTransport(
        client_logical_address=client,
        server_logical_address=1,
        server_physical_address=physical,
        io=BlockingTcpIO("127.0.0.1", port, timeout=TIMEOUT),
        timeout=TIMEOUT,
    )
    return _client(transport, auth, keys, title, counter, max_pdu)


def _client(
    transport: object,
    auth: object | None,
    keys: tuple[bytes, bytes] | None,
    title: bytes,
    counter: int,
    max_pdu: int,
) -> DlmsClient:
    block_key, auth_key = keys if keys else (None, None)
    return DlmsClient(
        transport=transport,
        authentication=auth or security.NoSecurityAuthentication(),
        encryption_key=block_key,
        authentication_key=auth_key,
        client_system_title=title,
        client_initial_invocation_counter=counter,
        max_pdu_size=max_pdu,
        timeout=TIMEOUT,
    )


def lls(password: bytes) -> object:
    return security.LowLevelSecurityAuthentication(secret=password)


def hls() -> object:
    return security.HighLevelSecurityGmacAuthentication(challenge_length=32)


INTERFACE = enums.CosemInterface

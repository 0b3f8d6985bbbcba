"""Fixtures of the scale-out end-to-end tests: a nats-server with JetStream (tests/nats_server.py)
and a fresh PostgreSQL database per test, and a simulated fleet served by `headend simulate` in a
subprocess: 30 meters, ciphered DLMS (so a reused invocation counter would be refused by the
meter), over two concentrators of six meters (half-duplex, leased), a DL/T 645 line of four and
fourteen GPRS meters; every request answered 200 ms late, so a concentrator's job takes seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from headend.store import open_store
from tests.conftest import free_port
from tests.nats_server import NatsServer
from tests.postgres_server import PostgresServer
from tests.service.run_support import Simulator

SHAPE = (
    "--meters", "30", "--concentrators", "2", "--meters-per-concentrator", "6",
    "--dlt645-lines", "1", "--meters-per-line", "4", "--cipher-share", "1",
)  # fmt: skip


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(free_port(), tmp_path / "nats")
    server.start()
    yield server
    server.remove()


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh database with the store's schema in place, dropped after the test."""
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    store = await open_store(url)
    await store.close()
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
async def simulated_fleet(tmp_path: Path) -> AsyncIterator[Path]:
    directory = tmp_path / "sim"
    directory.mkdir()
    async with Simulator(directory, *SHAPE, factor=60, latency_ms=200) as simulator:
        yield simulator.path

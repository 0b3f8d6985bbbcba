"""Fixtures shared by every test folder: free loopback ports and raw pseudo-terminals."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from drivers.transport.pty import PtyPair, open_pty


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def tcp_port() -> int:
    return free_port()


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    pair = open_pty()
    yield pair
    pair.close()


# -- mosquitto and VictoriaMetrics for the sink tests (tests/brokers.py) ------------------------

from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto, VictoriaMetrics  # noqa: E402


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A broker that wants MQTT_USER/MQTT_PASSWORD, stoppable and restartable on its port."""
    broker = Mosquitto(free_port(), users={MQTT_USER: MQTT_PASSWORD})
    broker.start()
    yield broker
    broker.remove()


@pytest.fixture
def victoria() -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(free_port())
    server.start()
    yield server
    server.remove()


# -- PostgreSQL for the store tests (tests/postgres_server.py) ----------------------------------

from tests.postgres_server import PostgresServer  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (tests/postgres_server.py), removed at the end."""
    server = PostgresServer.start(free_port())
    try:
        yield server
    finally:
        server.stop()

"""Gurux (gurux-dlms, GPLv2, test-only) as the independent DLMS peer, both ways.

`gurux_meter` starts a Gurux server (tests.interop_gurux.gurux_server) configured as a typical
meter; `our_settings` builds the DlmsSettings our client uses to reach it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from gurux_dlms.enums import Authentication, DataType, InterfaceType, Unit
from gurux_dlms.objects import (
    GXDLMSCaptureObject,
    GXDLMSClock,
    GXDLMSDisconnectControl,
    GXDLMSLimiter,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)
from pydantic import SecretBytes

from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.transport.settings import TcpLink

from .gurux_server import GuruxMeterConfig, GuruxTcpServer, gx_time

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
PASSWORD = b"12345678"
AUTH_KEY = bytes(range(0xD0, 0xE0))
BLOCK_KEY = bytes(range(16))
CLIENT_TITLE = b"HES00001"
METER_TITLE = b"GRX00001"
ENERGY = "1.0.1.8.0.255"
VOLTAGE = "1.0.32.7.0.255"
CLOCK = "0.0.1.0.0.255"
PROFILE = "1.0.99.1.0.255"
DISCONNECT = "0.0.96.3.10.255"
LIMITER = "0.0.17.0.0.255"
PROFILE_ROWS = 8
FRAMINGS = {"wrapper": InterfaceType.WRAPPER, "hdlc": InterfaceType.HDLC}
AUTHS = {"none": Authentication.NONE, "lls": Authentication.LOW, "hls": Authentication.HIGH_GMAC}


def register(obis: str, value: Any, scaler: float, unit: Unit, kind: int) -> GXDLMSRegister:
    reg = GXDLMSRegister(obis)
    reg.value = value
    reg.scaler = scaler  # Gurux keeps the scaler as 10**n
    reg.unit = unit
    reg.setDataType(2, kind)
    return reg


def typical_objects() -> list[Any]:
    """A typical electricity meter: energy (Wh, scaler 0), voltage (V, scaler -1), clock, a load
    profile of clock + energy, disconnect control, limiter."""
    energy = register(ENERGY, 123456, 1, Unit.ACTIVE_ENERGY, DataType.UINT32)
    voltage = register(VOLTAGE, 2301, 0.1, Unit.VOLTAGE, DataType.UINT16)
    clock = GXDLMSClock(CLOCK)
    clock.time = gx_time(T0)
    profile = GXDLMSProfileGeneric(PROFILE)
    profile.captureObjects.append((clock, GXDLMSCaptureObject(2, 0)))
    profile.captureObjects.append((energy, GXDLMSCaptureObject(2, 0)))
    profile.capturePeriod = 900
    for i in range(PROFILE_ROWS):
        when = T0 - timedelta(minutes=15 * (PROFILE_ROWS - i))
        profile.buffer.append([gx_time(when), 120000 + 100 * i])
    disconnect = GXDLMSDisconnectControl(DISCONNECT)
    disconnect.outputState = True
    limiter = GXDLMSLimiter(LIMITER)
    for attribute in (4, 5):  # thresholds in W; Gurux needs the type of a value it sends
        limiter.setDataType(attribute, DataType.UINT32)
    return [energy, voltage, clock, profile, disconnect, limiter]


def meter_config(
    framing: str = "wrapper",
    auth: str = "none",
    objects: Callable[[], list[Any]] = typical_objects,
    **kw: Any,
) -> GuruxMeterConfig:
    security: dict[str, Any] = {}
    if auth == "lls":
        security["password"] = PASSWORD
    if auth == "hls":
        security |= {"system_title": METER_TITLE, "block_key": BLOCK_KEY, "auth_key": AUTH_KEY}
    return GuruxMeterConfig(
        objects=objects, interface=FRAMINGS[framing], auth=AUTHS[auth], **(security | kw)
    )


@pytest.fixture
def gurux() -> Iterator[Callable[[GuruxMeterConfig], GuruxTcpServer]]:
    servers: list[GuruxTcpServer] = []

    def start(config: GuruxMeterConfig) -> GuruxTcpServer:
        server = GuruxTcpServer(config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    for server in servers:
        assert not server.errors, server.errors


def our_settings(server: GuruxTcpServer, framing: str, auth: str, **kw: Any) -> DlmsSettings:
    security: dict[str, Any] = {"auth": DlmsAuth.NONE}
    if auth == "lls":
        security = {"auth": DlmsAuth.LOW, "password": SecretBytes(kw.pop("password", PASSWORD))}
    elif auth == "hls":
        security = {
            "auth": DlmsAuth.HLS_GMAC,
            "cipher": True,
            "system_title": CLIENT_TITLE,
            "auth_key": SecretBytes(kw.pop("auth_key", AUTH_KEY)),
            "block_key": SecretBytes(kw.pop("block_key", BLOCK_KEY)),
        }
    return DlmsSettings(
        framing=DlmsFraming.WRAPPER if framing == "wrapper" else DlmsFraming.HDLC,
        link=TcpLink(host="127.0.0.1", port=server.port),
        timeout_s=5.0,
        **(security | kw),
    )


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()

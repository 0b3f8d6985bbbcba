"""A DLMS simulator with one constant-demand meter (energies computable by hand), reached by our
own DLMS client over real sockets (the rig of tests/dlms_session)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from tests.dlms_session.conftest import SECRETS, Rig

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FLAT_1KW = HouseholdProfile(base_w=1000.0, morning_peak_w=0.0, evening_peak_w=0.0, pv_peak_w=0.0)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SimClock(start=NOON, factor=0)
    async with DlmsSimulator(clock) as sim:
        meter = SimulatedMeter("m1", clock, profile=FLAT_1KW, history=timedelta(hours=1))
        sim.add_meter(meter, SECRETS)
        yield Rig(clock, sim, meter)

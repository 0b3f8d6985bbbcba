"""The protocol-neutral simulated meter: integrates a consumption model into its registers.

Registers are named by OBIS code. The meter integrates power lazily whenever it is observed
(`sync()`), in steps of at most `STEP` of simulated time, so later reads give larger energies, a
disconnect stops the flow and a load limit caps it. Every 15 minutes of simulated time it captures a
load-profile row (clock, import Wh, export Wh).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile, demand_w, pv_w

STEP = timedelta(seconds=60)
PROFILE_PERIOD = timedelta(minutes=15)
NOMINAL_VOLTAGE = 230.0

IMPORT_TOTAL = "1.0.1.8.0.255"
IMPORT_TARIFF = ("1.0.1.8.1.255", "1.0.1.8.2.255", "1.0.1.8.3.255", "1.0.1.8.4.255")
EXPORT_TOTAL = "1.0.2.8.0.255"
IMPORT_POWER = "1.0.1.7.0.255"
EXPORT_POWER = "1.0.2.7.0.255"
VOLTAGE = ("1.0.32.7.0.255", "1.0.52.7.0.255", "1.0.72.7.0.255")
CURRENT = ("1.0.31.7.0.255", "1.0.51.7.0.255", "1.0.71.7.0.255")
POWER_PHASE = ("1.0.21.7.0.255", "1.0.41.7.0.255", "1.0.61.7.0.255")
FREQUENCY = "1.0.14.7.0.255"
LOAD_PROFILE = "1.0.99.1.0.255"
CLOCK = "0.0.1.0.0.255"

# Event codes (DLMS standard event log numbering, IEC 62056-6-2 / IDIS)
EVENT_POWER_UP = 2
EVENT_CLOCK_ADJUSTED = 4
EVENT_DISCONNECT = 47
EVENT_RECONNECT = 48
EVENT_LIMIT_CHANGED = 49
EVENT_LIMIT_EXCEEDED = 51


def tariff_of(at: datetime) -> int:
    """Tariff register index 0..3 by time of day: night, day, peak, shoulder."""
    hour = at.hour
    if hour >= 23 or hour < 7:
        return 0
    if hour < 17:
        return 1
    if hour < 21:
        return 2
    return 3


@dataclass(frozen=True, slots=True)
class ProfileRow:
    clock: datetime
    import_wh: Decimal
    export_wh: Decimal


@dataclass(frozen=True, slots=True)
class MeterEvent:
    clock: datetime
    code: int


class SimulatedMeter:
    """One household meter. Single-threaded: call from one event loop."""

    def __init__(
        self,
        meter_id: str,
        clock: SimClock,
        profile: HouseholdProfile | None = None,
        seed: int = 0,
        history: timedelta = timedelta(days=2),
        profile_depth: int = 96 * 40,
        initial_import_wh: float | None = None,
    ) -> None:
        self.meter_id = meter_id
        self.clock = clock
        self.profile = profile or HouseholdProfile.random(seed)
        self.connected = True
        self.limit_w: float | None = None
        # The meter's own clock error: a time sync moves this meter's clock, not the shared one.
        self.clock_offset = timedelta(0)
        self.import_wh = [0.0, 0.0, 0.0, 0.0]
        self.export_wh = 0.0
        self.load_profile: deque[ProfileRow] = deque(maxlen=profile_depth)
        self.events: deque[MeterEvent] = deque(maxlen=500)
        now = clock.now()
        start = now - history
        if initial_import_wh is None:
            initial_import_wh = 1_000_000.0 + (seed % 997) * 1_000.0
        self.import_wh[0] = initial_import_wh
        self._t = start
        self.events.append(MeterEvent(start, EVENT_POWER_UP))
        self.sync()

    # -- integration -------------------------------------------------------------------------

    def power_at(self, at: datetime) -> tuple[float, float]:
        """(import W, export W) at an instant, after disconnect and limiter."""
        if not self.connected:
            return 0.0, 0.0
        net = demand_w(self.profile, at) - pv_w(self.profile, at)
        if net >= 0:
            if self.limit_w is not None:
                net = min(net, self.limit_w)
            return net, 0.0
        return 0.0, -net

    def sync(self) -> datetime:
        """Integrate up to the clock's now; returns that instant."""
        now = self.clock.now()
        t = self._t
        while t < now:
            boundary = _next_boundary(t)
            step_end = min(t + STEP, now, boundary)
            seconds = (step_end - t).total_seconds()
            imp, exp = self.power_at(t)
            self.import_wh[tariff_of(t)] += imp * seconds / 3600.0
            self.export_wh += exp * seconds / 3600.0
            t = step_end
            if t == boundary:
                self.load_profile.append(
                    ProfileRow(
                        t + self.clock_offset, _wh(self.total_import_wh), _wh(self.export_wh)
                    )
                )
        self._t = max(t, self._t)
        return now

    def now(self) -> datetime:
        """The meter's own clock: simulated time plus this meter's clock error."""
        return self.clock.now() + self.clock_offset

    @property
    def total_import_wh(self) -> float:
        return sum(self.import_wh)

    # -- observation -------------------------------------------------------------------------

    def value(self, obis: str) -> Decimal | datetime | None:
        """The current value of a quantity by OBIS code, in base units (Wh, W, V, A, Hz)."""
        now = self.sync()
        if obis == CLOCK:
            return now + self.clock_offset
        if obis == IMPORT_TOTAL:
            return _wh(self.total_import_wh)
        if obis in IMPORT_TARIFF:
            return _wh(self.import_wh[IMPORT_TARIFF.index(obis)])
        if obis == EXPORT_TOTAL:
            return _wh(self.export_wh)
        imp, exp = self.power_at(now)
        if obis == IMPORT_POWER:
            return Decimal(round(imp))
        if obis == EXPORT_POWER:
            return Decimal(round(exp))
        if obis in VOLTAGE:
            phase = VOLTAGE.index(obis)
            return Decimal(str(round(self._voltage(now, phase), 1)))
        if obis in CURRENT:
            phase = CURRENT.index(obis)
            amps = (imp + exp) / 3.0 / self._voltage(now, phase)
            return Decimal(str(round(amps, 3)))
        if obis in POWER_PHASE:
            return Decimal(round((imp - exp) / 3.0))
        if obis == FREQUENCY:
            return Decimal("50.00")
        return None

    def _voltage(self, at: datetime, phase: int) -> float:
        # A small deterministic ripple keeps voltages plausible and distinct per phase.
        minute = at.hour * 60 + at.minute
        return NOMINAL_VOLTAGE + 3.0 * math.sin(minute / 90.0 + phase * 2.1)

    def profile_rows(self, start: datetime, end: datetime) -> list[ProfileRow]:
        self.sync()
        return [row for row in self.load_profile if start <= row.clock <= end]

    # -- commands ----------------------------------------------------------------------------

    def disconnect(self) -> None:
        self.sync()
        if self.connected:
            self.connected = False
            self.events.append(MeterEvent(self.now(), EVENT_DISCONNECT))

    def reconnect(self) -> None:
        self.sync()
        if not self.connected:
            self.connected = True
            self.events.append(MeterEvent(self.now(), EVENT_RECONNECT))

    def set_limit(self, limit_w: float | None) -> None:
        self.sync()
        self.limit_w = limit_w
        self.events.append(MeterEvent(self.now(), EVENT_LIMIT_CHANGED))

    def set_time(self, when: datetime) -> None:
        """Time sync: set this meter's clock only; simulated physics time runs on unchanged."""
        self.sync()
        self.clock_offset = when.astimezone(UTC) - self.clock.now()
        self.events.append(MeterEvent(self.now(), EVENT_CLOCK_ADJUSTED))


def _wh(value: float) -> Decimal:
    return Decimal(int(value))


def _next_boundary(t: datetime) -> datetime:
    base = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    k = int((t - base) / PROFILE_PERIOD) + 1
    return base + k * PROFILE_PERIOD

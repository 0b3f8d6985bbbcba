"""The protocol-neutral simulated meter: integrates a consumption model into its registers.

Registers are named by OBIS code. The meter integrates power lazily whenever it is observed
(`sync()`), so later reads give larger energies, a disconnect stops the flow and a load limit caps
it. Every 15 minutes of simulated time it captures a load-profile row (clock, import Wh, export Wh).

Integration never crosses a 15-minute boundary and the meter's state (connected, limit) is constant
within one `sync()`, because every command syncs first; the one change that comes by itself, an
emergency limit (a lease, drivers/sim/control) starting or ending, splits the integrated span at
that instant, so the limit drops exactly at the lease end and the energy stays exact (a
"limiter threshold changed" event is logged, stamped with that instant). A span of up to `STEP`
(a live read) takes the power at its start; a longer span (history, or a meter left alone for a
while) is integrated by Simpson's rule in one step: the demand curve is smooth on that scale, and
building a day of history costs ~200 model evaluations instead of 1,440.

Energy registers count whole Wh, as a meter's pulse counter does: the fraction not yet counted is
carried over, so the tariff registers add up to the total exactly and each profile row is exactly
the total register at its capture time.

Disconnect control and limiter follow the DLMS Blue Book (drivers/sim/control): `control_state`,
`control_mode` (default 2: a remote reconnect connects), `press_button()` the customer's manual
reconnect of an armed meter; `limit_w` is the normal threshold, `active_limit_w()` the one in force.

The active tariff programme (the activity calendar's name) decides which import register counts:
"TOU" (the default: night, day, peak, shoulder by hour, `tariff_of`) or "FLAT" (all into 1.8.1).
A new programme is written as the passive one and then activated, as with a DLMS calendar.

At each billing midnight (00:00 UTC, or of UTC+`billing_offset`) the registers are also captured
into the daily billing log, and on day 1 of a month into the monthly one (drivers/sim/billing_log).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.sim import control
from drivers.sim.billing_log import DAILY_DEPTH, MONTHLY_DEPTH, BillingLog
from drivers.sim.clock import SimClock
from drivers.sim.consumption import (
    GRID_PER_DAY,
    GRID_PER_HOUR,
    HouseholdProfile,
    demand_w,
    net_at,
    net_on_grid,
    pv_w,
)
from drivers.sim.control import EVENT_DISCONNECT as EVENT_DISCONNECT
from drivers.sim.control import EVENT_LIMIT_CHANGED as EVENT_LIMIT_CHANGED
from drivers.sim.control import EVENT_LIMIT_EXCEEDED as EVENT_LIMIT_EXCEEDED
from drivers.sim.control import EVENT_RECONNECT as EVENT_RECONNECT
from drivers.sim.control import TARIFF_PROGRAMMES as TARIFF_PROGRAMMES
from drivers.sim.control import limited_flow, mean_limited_flow
from drivers.sim.control import tariff_of as tariff_of
from drivers.sim.meter_controls import MeterControls
from drivers.sim.profile_log import ONE_US, ProfileLog, from_us, to_us
from drivers.sim.profile_log import ProfileRow as ProfileRow

STEP = timedelta(seconds=60)
PROFILE_PERIOD = timedelta(minutes=15)
_STEP_US = STEP // ONE_US
_PERIOD_US = PROFILE_PERIOD // ONE_US
_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_GRID_US = _HOUR_US // GRID_PER_HOUR
assert _PERIOD_US == 2 * _GRID_US  # a period's start, middle and end are grid samples
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
# Derived quantities (served by the Modbus simulator's richer maps). The household load is
# inductive at a fixed power factor, so Q = |P|·tan φ (lagging: quadrant I while importing,
# quadrant II while exporting) and S = |P| / PF; the PF carries the sign of the active power
# (Eastron convention: negative for reverse current); 1 with no load.
POWER_FACTOR_MAGNITUDE = 0.95
REACTIVE_IMPORT_POWER = "1.0.3.7.0.255"  # Q+
REACTIVE_EXPORT_POWER = "1.0.4.7.0.255"  # Q-
APPARENT_POWER = "1.0.9.7.0.255"  # S+
POWER_FACTOR = "1.0.13.7.0.255"
REACTIVE_PHASE = ("1.0.23.7.0.255", "1.0.43.7.0.255", "1.0.63.7.0.255")
APPARENT_PHASE = ("1.0.29.7.0.255", "1.0.49.7.0.255", "1.0.69.7.0.255")
POWER_FACTOR_PHASE = ("1.0.33.7.0.255", "1.0.53.7.0.255", "1.0.73.7.0.255")
# No IEC 62056-6-1 code exists for line-to-line voltage; C = 124/125/126 as some utilities use.
VOLTAGE_LINE = ("1.0.124.7.0.255", "1.0.125.7.0.255", "1.0.126.7.0.255")  # L1-L2, L2-L3, L3-L1
IMPORT_PHASE = ("1.0.21.8.0.255", "1.0.41.8.0.255", "1.0.61.8.0.255")
EXPORT_PHASE = ("1.0.22.8.0.255", "1.0.42.8.0.255", "1.0.62.8.0.255")
ABSOLUTE_TOTAL = "1.0.15.8.0.255"  # |+A| + |-A|
REACTIVE_IMPORT_TOTAL = "1.0.3.8.0.255"  # Q+ = QI + QII
REACTIVE_EXPORT_TOTAL = "1.0.4.8.0.255"  # Q- = QIII + QIV
REACTIVE_QUADRANT = ("1.0.5.8.0.255", "1.0.6.8.0.255", "1.0.7.8.0.255", "1.0.8.8.0.255")
LOAD_PROFILE = "1.0.99.1.0.255"
CLOCK = "0.0.1.0.0.255"

# Event codes: the IDIS numbering of DLMS event logs (table in drivers/dlms/events.py; a test
# checks these against it). A clock adjustment logs the old time (4) and the new time (5).
EVENT_POWER_DOWN = 1
EVENT_POWER_UP = 2
EVENT_CLOCK_ADJUSTED = 4  # old date/time
EVENT_CLOCK_ADJUSTED_NEW = 5
EVENT_TERMINAL_COVER_OPENED = 40
EVENT_TERMINAL_COVER_CLOSED = 41
EVENT_METER_COVER_OPENED = 44
EVENT_METER_COVER_CLOSED = 45


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An entry of the meter's event log: the meter's own clock at the event, and its code."""

    clock: datetime
    code: int


class SimulatedMeter(MeterControls):
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
        billing_offset: timedelta = timedelta(0),
    ) -> None:
        self.meter_id = meter_id
        self.clock = clock
        self.profile = profile or HouseholdProfile.random(seed)
        self.control_state: control.ControlState = control.CONNECTED
        self.control_mode = control.DEFAULT_CONTROL_MODE
        self.limiter = control.Limiter()
        self.tariff_programme = control.DEFAULT_PROGRAMME
        self.passive_programme = control.DEFAULT_PROGRAMME
        # The meter's own clock error: a time sync moves this meter's clock, not the shared one.
        self.clock_offset = timedelta(0)
        # Clock status byte the meter reports with its time (IEC 62056-6-2: 0x01 invalid value,
        # 0x02 doubtful value, 0x04 different clock base, 0x08 invalid clock status); a fault knob.
        self.clock_status = 0
        # Register resolution by OBIS code as 10^scaler of the base unit, where a
        # re-parametrisation changed the protocol's default; servers re-express raw values in it.
        self.scalers: dict[str, int] = {}
        if initial_import_wh is None:
            initial_import_wh = 1_000_000.0 + (seed % 997) * 1_000.0
        # whole Wh per tariff register; the fractions not yet counted are carried separately
        self.import_wh = [int(initial_import_wh), 0, 0, 0]
        self.export_wh = 0
        self._import_carry = initial_import_wh - int(initial_import_wh)
        self._export_carry = 0.0
        self.load_profile = ProfileLog(maxlen=profile_depth)
        # billing days start at 00:00 of UTC+billing_offset (a DL/T 645 meter: its local midnight)
        if billing_offset % PROFILE_PERIOD:
            raise ValueError("billing_offset must be whole quarter-hours (captures are on them)")
        self.billing_offset = billing_offset
        self.daily = BillingLog(DAILY_DEPTH)
        self.monthly = BillingLog(MONTHLY_DEPTH)
        self.events: deque[LoggedEvent] = deque(maxlen=500)
        # told of every event as it is logged (the DLMS push setup listens here)
        self.on_event: Callable[[LoggedEvent], None] | None = None
        self.powered = True  # a power failure stops the flow, as a disconnect does
        # the "opened" codes of the covers now open (the empty frozenset is shared by all meters)
        self.covers_open: frozenset[int] = frozenset()
        start = clock.now() - history
        self._t_us = to_us(start)  # simulated time integrated up to
        self.events.append(LoggedEvent(start, EVENT_POWER_UP))
        self.sync()

    # -- integration -------------------------------------------------------------------------

    def power_at(self, at: datetime) -> tuple[float, float]:
        """(import W, export W) at an instant, after disconnect and limiter."""
        if not (self.connected and self.powered):
            return 0.0, 0.0
        net = demand_w(self.profile, at) - pv_w(self.profile, at)
        if net >= 0:
            limit = self.limiter.limit_at(to_us(at))
            if limit is not None:
                net = min(net, limit)
            return net, 0.0
        return 0.0, -net

    def sync(self) -> datetime:
        """Integrate up to the clock's now; returns that instant."""
        now = self.clock.now()
        end_us = to_us(now)
        if end_us > self._t_us:
            self._integrate(end_us)
        return now

    def _integrate(self, end_us: int) -> None:
        profile, limiter = self.profile, self.limiter
        by_hour = TARIFF_PROGRAMMES[self.tariff_programme]
        connected = self.connected and self.powered
        registers, exported = self.import_wh, self.export_wh
        offset_us, billing_us = self.clock_offset // ONE_US, self.billing_offset // ONE_US
        import_carry, export_carry = self._import_carry, self._export_carry
        t = self._t_us
        known: float | None = None  # net power at t, when the previous span computed it
        # without an emergency profile in force the limit is constant (and history fast)
        timed = limiter.next_edge(t) is not None or limiter.emergency_at(t)
        limit, edge = limiter.normal_w, None
        while t < end_us:
            boundary = (t // _PERIOD_US + 1) * _PERIOD_US
            stop = min(end_us, boundary)
            if timed:
                limit, edge = limiter.limit_at(t), limiter.next_edge(t)
                if edge is not None and edge < stop:
                    stop = edge  # the emergency limit starts or ends inside: integrate up to it
            span = stop - t
            if connected:
                if span <= _STEP_US:
                    imp, exp = limited_flow(net_at(profile, (t % _DAY_US) / _HOUR_US), limit)
                    known = None
                elif span == _PERIOD_US:  # a whole period: its samples lie on the model's grid
                    k = (t % _DAY_US) // _GRID_US
                    a = known if known is not None else net_on_grid(profile, k)
                    m = net_on_grid(profile, k + 1)
                    b = net_on_grid(profile, (k + 2) % GRID_PER_DAY)
                    imp, exp = mean_limited_flow(a, m, b, limit)
                    known = b
                else:
                    a = known if known is not None else net_at(profile, (t % _DAY_US) / _HOUR_US)
                    m = net_at(profile, ((t + span // 2) % _DAY_US) / _HOUR_US)
                    b = net_at(profile, (stop % _DAY_US) / _HOUR_US)
                    imp, exp = mean_limited_flow(a, m, b, limit)
                    known = b
                # mean power x duration; span is in µs, an hour is _HOUR_US
                import_carry += imp * span / _HOUR_US
                export_carry += exp * span / _HOUR_US
                whole = int(import_carry)
                registers[by_hour[(t // _HOUR_US) % 24]] += whole
                import_carry -= whole
                whole = int(export_carry)
                exported += whole
                export_carry -= whole
            t = stop
            if t == edge:
                self._log_at(t, EVENT_LIMIT_CHANGED)
            if t == boundary:
                self._capture(t, exported, offset_us, billing_us)
        self.export_wh = exported
        self._import_carry, self._export_carry = import_carry, export_carry
        self._t_us = t

    def _capture(self, t_us: int, exported: int, offset_us: int, billing_us: int) -> None:
        """At a period boundary: the load-profile row, and at a billing midnight the billing
        values, of the import registers and `exported` (the export register being integrated);
        `offset_us` is the meter's clock error, `billing_us` its billing offset, in µs."""
        registers = self.import_wh
        self.load_profile.append(t_us + offset_us, sum(registers), exported)
        if (t_us + billing_us) % _DAY_US == 0:
            self.daily.append(t_us + offset_us, registers, exported)
            if from_us(t_us + billing_us).day == 1:
                self.monthly.append(t_us + offset_us, registers, exported)

    def integrate_to(self, t_us: int) -> None:
        """Integrate up to simulated instant `t_us` (µs since the epoch; no later than now)."""
        if t_us > self._t_us:
            self._integrate(t_us)

    @property
    def integrated_to(self) -> int:
        """The simulated instant (µs) the registers hold the energy up to."""
        return self._t_us

    def now(self) -> datetime:
        """The meter's own clock: simulated time plus this meter's clock error."""
        return self.clock.now() + self.clock_offset

    @property
    def total_import_wh(self) -> float:
        return sum(self.import_wh) + self._import_carry

    # -- observation -------------------------------------------------------------------------

    def value(self, obis: str, *, phases: int = 3) -> Decimal | datetime | None:
        """The current value of a quantity by OBIS code, in base units (Wh, W, V, A, Hz, var,
        VA, varh). `phases=1` describes a single-phase meter: the whole load is on L1."""
        now = self.sync()
        if phases == 1:
            single = self._single_phase(obis, now)
            if single is not None:
                return single
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
        return self._derived(obis, now, imp, exp)

    def _derived(self, obis: str, now: datetime, imp: float, exp: float) -> Decimal | None:
        """Quantities derived from V, A, W and the energy registers (see POWER_FACTOR_MAGNITUDE)."""
        tan_phi = math.tan(math.acos(POWER_FACTOR_MAGNITUDE))
        flow = imp + exp
        if obis == REACTIVE_IMPORT_POWER:
            return Decimal(round(flow * tan_phi))
        if obis == REACTIVE_EXPORT_POWER:
            return Decimal(0)
        if obis in REACTIVE_PHASE:
            return Decimal(round(flow / 3.0 * tan_phi))
        if obis == APPARENT_POWER:
            return Decimal(round(flow / POWER_FACTOR_MAGNITUDE))
        if obis in APPARENT_PHASE:
            return Decimal(round(flow / 3.0 / POWER_FACTOR_MAGNITUDE))
        if obis == POWER_FACTOR or obis in POWER_FACTOR_PHASE:
            return _power_factor(imp, exp)
        if obis in VOLTAGE_LINE:
            i = VOLTAGE_LINE.index(obis)
            va, vb = self._voltage(now, i), self._voltage(now, (i + 1) % 3)
            # phasors 120° apart: |Va - Vb| = sqrt(Va² + Vb² + Va·Vb)
            return Decimal(str(round(math.sqrt(va * va + vb * vb + va * vb), 1)))
        if obis in IMPORT_PHASE:
            return _wh(self.total_import_wh / 3.0)
        if obis in EXPORT_PHASE:
            return _wh(self.export_wh / 3.0)
        if obis == ABSOLUTE_TOTAL:
            return _wh(self.total_import_wh + self.export_wh)
        if obis in REACTIVE_QUADRANT:
            quadrant = REACTIVE_QUADRANT.index(obis)
            energy = (self.total_import_wh, self.export_wh, 0.0, 0.0)[quadrant]
            return _wh(energy * tan_phi)
        if obis == REACTIVE_IMPORT_TOTAL:
            return _wh((self.total_import_wh + self.export_wh) * tan_phi)
        if obis == REACTIVE_EXPORT_TOTAL:
            return Decimal(0)
        return None

    def _single_phase(self, obis: str, now: datetime) -> Decimal | None:
        """L1 quantities of a single-phase meter (the totals); None: same as three-phase."""
        imp, exp = self.power_at(now)
        if obis == CURRENT[0]:
            return Decimal(str(round((imp + exp) / self._voltage(now, 0), 3)))
        if obis == POWER_PHASE[0]:
            return Decimal(round(imp - exp))
        if obis in (REACTIVE_PHASE[0], APPARENT_PHASE[0], IMPORT_PHASE[0], EXPORT_PHASE[0]):
            total = {
                REACTIVE_PHASE[0]: REACTIVE_IMPORT_POWER,
                APPARENT_PHASE[0]: APPARENT_POWER,
                IMPORT_PHASE[0]: IMPORT_TOTAL,
                EXPORT_PHASE[0]: EXPORT_TOTAL,
            }[obis]
            value = self.value(total)
            return value if isinstance(value, Decimal) else None
        if obis in CURRENT[1:] + POWER_PHASE[1:] + VOLTAGE[1:] + VOLTAGE_LINE:
            return Decimal(0)
        return None

    def _voltage(self, at: datetime, phase: int) -> float:
        # A small deterministic ripple keeps voltages plausible and distinct per phase.
        minute = at.hour * 60 + at.minute
        return NOMINAL_VOLTAGE + 3.0 * math.sin(minute / 90.0 + phase * 2.1)

    def profile_rows(self, start: datetime, end: datetime) -> list[ProfileRow]:
        self.sync()
        return self.load_profile.between(start, end)

    # -- commands ----------------------------------------------------------------------------

    def set_time(self, when: datetime) -> None:
        """Time sync: set this meter's clock only; simulated physics time runs on unchanged."""
        self.sync()
        self.log_event(EVENT_CLOCK_ADJUSTED)  # stamped with the old time
        self.clock_offset = when.astimezone(UTC) - self.clock.now()
        self.log_event(EVENT_CLOCK_ADJUSTED_NEW)

    # -- events ------------------------------------------------------------------------------

    def log_event(self, code: int) -> LoggedEvent:
        """Log an event at the meter's own clock and tell `on_event`."""
        return self._log_at(to_us(self.clock.now()), code)

    def _log_at(self, t_us: int, code: int) -> LoggedEvent:
        # stamped on the meter's own clock at simulated instant t_us (now, or a lease's end
        # found while integrating the past)
        event = LoggedEvent(from_us(t_us) + self.clock_offset, code)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def power_fail(self) -> None:
        """Mains lost: no energy flows until `power_restore`; logs a power down."""
        self.sync()
        if self.powered:
            self.powered = False
            self.log_event(EVENT_POWER_DOWN)

    def power_restore(self) -> None:
        self.sync()
        if not self.powered:
            self.powered = True
            self.log_event(EVENT_POWER_UP)

    def open_cover(self, *, terminal: bool = True) -> None:
        """Someone removes the terminal cover (or, `terminal=False`, the meter cover)."""
        code = EVENT_TERMINAL_COVER_OPENED if terminal else EVENT_METER_COVER_OPENED
        if code not in self.covers_open:
            self.covers_open |= {code}
            self.log_event(code)

    def close_cover(self, *, terminal: bool = True) -> None:
        opened = EVENT_TERMINAL_COVER_OPENED if terminal else EVENT_METER_COVER_OPENED
        if opened in self.covers_open:
            self.covers_open -= {opened}
            self.log_event(EVENT_TERMINAL_COVER_CLOSED if terminal else EVENT_METER_COVER_CLOSED)


def _power_factor(imp: float, exp: float) -> Decimal:
    if imp > 0:
        return Decimal(str(POWER_FACTOR_MAGNITUDE))
    if exp > 0:
        return -Decimal(str(POWER_FACTOR_MAGNITUDE))
    return Decimal(1)


def _wh(value: float) -> Decimal:
    return Decimal(int(value))

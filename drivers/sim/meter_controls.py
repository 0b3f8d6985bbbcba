"""The commands a simulated meter obeys: disconnect control, limiter, activity calendar.

`MeterControls` is the part of `SimulatedMeter` (drivers/sim/physics) that changes its state on a
command; the rules themselves (Blue Book transitions, emergency windows) are in drivers/sim/control.
Every command integrates up to now first (`sync()`), so a state holds for whole integrated spans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.sim import control
from drivers.sim.clock import SimClock
from drivers.sim.control import (
    EVENT_DISCONNECT,
    EVENT_LIMIT_CHANGED,
    EVENT_MANUAL_DISCONNECT,
    EVENT_MANUAL_RECONNECT,
    EVENT_READY_FOR_RECONNECTION,
    EVENT_RECONNECT,
    TARIFF_PROGRAMMES,
)
from drivers.sim.profile_log import to_us


class MeterControls:
    """Mixin of `SimulatedMeter`: its controllable state and the commands that change it."""

    clock: SimClock
    clock_offset: timedelta
    control_state: control.ControlState
    control_mode: int
    limiter: control.Limiter
    tariff_programme: str
    passive_programme: str

    def sync(self) -> datetime:
        raise NotImplementedError

    def now(self) -> datetime:
        raise NotImplementedError

    def log_event(self, code: int) -> object:
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        """Whether the output is closed (control state connected)."""
        return self.control_state == control.CONNECTED

    @connected.setter
    def connected(self, value: bool) -> None:
        self.control_state = control.CONNECTED if value else control.DISCONNECTED

    @property
    def limit_w(self) -> float | None:
        """The normal threshold (W; None: no limit), in force outside an emergency."""
        return self.limiter.normal_w

    @limit_w.setter
    def limit_w(self, value: float | None) -> None:
        self.limiter.normal_w = value

    def active_limit_w(self, at: datetime | None = None) -> float | None:
        """The limit in force at `at` (default: now): the emergency one inside its window."""
        return self.limiter.limit_at(to_us(at or self.clock.now()))

    # -- commands ----------------------------------------------------------------------------

    def disconnect(self) -> None:
        """remote_disconnect (transitions b, c; nothing in control mode 0)."""
        self._switch(control.remote_disconnect, EVENT_DISCONNECT)

    def reconnect(self) -> None:
        """remote_reconnect: connects (a) or only arms (d), by the control mode."""
        self._switch(control.remote_reconnect, EVENT_RECONNECT)

    def press_button(self) -> None:
        """The customer's manual reconnect of an armed meter (transition e)."""
        self._switch(control.manual_reconnect, EVENT_MANUAL_RECONNECT)

    def manual_disconnect(self) -> None:
        """The customer opens the switch with the button (transition f, modes 1, 2, 5)."""
        self._switch(control.manual_disconnect, EVENT_MANUAL_DISCONNECT)

    def set_control_mode(self, mode: int) -> None:
        self.control_mode = control.check_mode(mode)

    def _switch(self, transition: control.Transition, event: int) -> None:
        self.sync()
        before = self.control_state
        after = transition(before, self.control_mode)
        if after != before:
            self.control_state = after
            armed = after == control.READY_FOR_RECONNECTION and event == EVENT_RECONNECT
            self.log_event(EVENT_READY_FOR_RECONNECTION if armed else event)

    def set_limit(self, limit_w: float | None) -> None:
        """Set the normal threshold (None: no limit)."""
        self.sync()
        self.limiter.normal_w = limit_w
        self.log_event(EVENT_LIMIT_CHANGED)

    def set_emergency_threshold(self, limit_w: float | None) -> None:
        self.sync()
        self.limiter.emergency_w = limit_w
        self.log_event(EVENT_LIMIT_CHANGED)

    def set_emergency_profile(self, profile_id: int, activation: datetime, duration_s: int) -> None:
        """The emergency profile; `activation` is on the meter's own clock. A new profile replaces
        the old one (a renewal: the same limit with a later activation time)."""
        self.sync()
        start_us = to_us(activation.astimezone(UTC) - self.clock_offset)
        self.limiter.profile = control.EmergencyProfile(profile_id, start_us, duration_s)
        self.log_event(EVENT_LIMIT_CHANGED)

    def set_emergency_groups(self, group_ids: tuple[int, ...]) -> None:
        self.sync()
        self.limiter.group_ids = group_ids

    def set_emergency_limit(
        self, limit_w: float, duration_s: int, activation: datetime | None = None
    ) -> None:
        """A limit leased for `duration_s` from `activation` (default: now on the meter's clock):
        emergency threshold, profile 1 and group list [1], as a head-end writes them."""
        self.set_emergency_threshold(limit_w)
        self.set_emergency_groups((1,))
        self.set_emergency_profile(1, activation or self.now(), duration_s)

    def clear_emergency(self) -> None:
        self.sync()
        self.limiter.emergency_w, self.limiter.profile = None, None
        self.log_event(EVENT_LIMIT_CHANGED)

    def emergency_active(self) -> bool:
        return self.limiter.emergency_at(to_us(self.sync()))

    def set_passive_programme(self, name: str) -> None:
        """The activity calendar's passive programme, activated by `activate_passive`."""
        if name not in TARIFF_PROGRAMMES:
            raise ValueError(
                f"unknown tariff programme {name!r}; known: {sorted(TARIFF_PROGRAMMES)}"
            )
        self.passive_programme = name

    def activate_passive(self) -> None:
        """From now on the passive programme decides which tariff register counts."""
        self.sync()
        self.tariff_programme = self.passive_programme

"""The simulated meter's controls: disconnect control and limiter as the DLMS Blue Book defines
them, and the tariff programmes its activity calendar switches between.

Disconnect control (interface class 70). Three control states: disconnected (0), connected (1),
ready_for_reconnection (2: the output is open and the customer may close it with the button).
The transitions, named as in the Blue Book:

| transition | trigger           | from                   | to                     |
|------------|-------------------|------------------------|------------------------|
| a          | remote_reconnect  | disconnected           | connected              |
| b          | remote_disconnect | connected              | disconnected           |
| c          | remote_disconnect | ready_for_reconnection | disconnected           |
| d          | remote_reconnect  | disconnected           | ready_for_reconnection |
| e          | manual_reconnect  | ready_for_reconnection | connected              |
| f          | manual_disconnect | connected              | ready_for_reconnection |
| g          | local_disconnect  | connected              | ready_for_reconnection |
| h          | local_reconnect   | ready_for_reconnection | connected              |

The control mode (attribute 4) says which transitions the meter makes: mode 0 none (always
connected); remote disconnection (b, c) in modes 1..6; remote reconnection directly (a) in modes
2 and 4, only armed (d) in modes 1, 3, 5 and 6, so that the customer must press the button (e);
manual disconnection (f) in modes 1, 2 and 5; local reconnection (h) in modes 5 and 6.

The simulator's default is mode 2 (a remote reconnect connects at once, the customer's button
disconnects and reconnects), which keeps what the simulator always did; mode 1 (the IDIS
default in many deployments) arms instead.

Limiter (interface class 71): a normal threshold, and an emergency threshold in force while the
emergency profile (id, activation time, duration) is active, i.e. its id is in the emergency
profile group id list and the time lies in [activation, activation + duration). The limit in
force (threshold_active) is the emergency threshold then, the normal one otherwise. A lease is
such a profile: the meter itself drops the limit when the duration ends; sending a new profile
with a new activation time renews it. `limited_flow`/`mean_limited_flow` apply a limit to power.

Tariff programmes (the activity calendar's names): "TOU", the default, counts import into
1.8.1..1.8.4 by hour (night, day, peak, shoulder: `tariff_of`); "FLAT" counts all into 1.8.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

ControlState = Literal["connected", "disconnected", "ready_for_reconnection"]
Transition = Callable[["ControlState", int], "ControlState"]
CONNECTED: ControlState = "connected"
DISCONNECTED: ControlState = "disconnected"
READY_FOR_RECONNECTION: ControlState = "ready_for_reconnection"
STATE_CODES: dict[ControlState, int] = {DISCONNECTED: 0, CONNECTED: 1, READY_FOR_RECONNECTION: 2}

# IDIS event codes of the disconnector control log (table in drivers/dlms/events.py)
EVENT_READY_FOR_RECONNECTION = 59
EVENT_MANUAL_DISCONNECT = 60
EVENT_MANUAL_RECONNECT = 61
EVENT_DISCONNECT = 62  # remote disconnection
EVENT_RECONNECT = 63  # remote connection
EVENT_LIMIT_EXCEEDED = 65
EVENT_LIMIT_CHANGED = 67

DEFAULT_CONTROL_MODE = 2
CONTROL_MODES = range(7)
_DIRECT_REMOTE_RECONNECT = frozenset({2, 4})
_MANUAL_DISCONNECT = frozenset({1, 2, 5})
_LOCAL_RECONNECT = frozenset({5, 6})


def check_mode(mode: int) -> int:
    if mode not in CONTROL_MODES:
        raise ValueError(f"control mode {mode} is not one of 0..6")
    return mode


def remote_disconnect(state: ControlState, mode: int) -> ControlState:
    """Transitions b and c (every mode but 0)."""
    return state if mode == 0 else DISCONNECTED


def remote_reconnect(state: ControlState, mode: int) -> ControlState:
    """Transition a (modes 2, 4: connected at once) or d (modes 1, 3, 5, 6: armed)."""
    if mode == 0 or state == CONNECTED:
        return state
    return CONNECTED if mode in _DIRECT_REMOTE_RECONNECT else READY_FOR_RECONNECTION


def manual_reconnect(state: ControlState, mode: int) -> ControlState:
    """Transition e: the customer presses the button of an armed meter."""
    return CONNECTED if state == READY_FOR_RECONNECTION and mode != 0 else state


def manual_disconnect(state: ControlState, mode: int) -> ControlState:
    """Transition f (modes 1, 2, 5): the customer opens the switch with the button."""
    if state == CONNECTED and mode in _MANUAL_DISCONNECT:
        return READY_FOR_RECONNECTION
    return state


def local_disconnect(state: ControlState, mode: int) -> ControlState:
    """Transition g: the meter itself opens the switch (e.g. its limiter's action)."""
    return READY_FOR_RECONNECTION if state == CONNECTED and mode != 0 else state


def local_reconnect(state: ControlState, mode: int) -> ControlState:
    """Transition h (modes 5, 6): the meter itself closes the switch again."""
    if state == READY_FOR_RECONNECTION and mode in _LOCAL_RECONNECT:
        return CONNECTED
    return state


@dataclass(frozen=True, slots=True)
class EmergencyProfile:
    """Class 71 emergency_profile: the window is [activation, activation + duration), in the
    simulation's µs (the meter's own clock error already taken off)."""

    profile_id: int
    activation_us: int
    duration_s: int

    @property
    def end_us(self) -> int:
        return self.activation_us + self.duration_s * 1_000_000


@dataclass(slots=True)
class Limiter:
    """The limiter's thresholds (W; None = no limit) and emergency profile."""

    normal_w: float | None = None
    emergency_w: float | None = None
    profile: EmergencyProfile | None = None
    group_ids: tuple[int, ...] = ()

    def _armed(self) -> EmergencyProfile | None:
        profile = self.profile
        if profile is None or profile.profile_id not in self.group_ids:
            return None
        return profile

    def emergency_at(self, t_us: int) -> bool:
        """Whether the emergency profile is active at `t_us`."""
        profile = self._armed()
        return profile is not None and profile.activation_us <= t_us < profile.end_us

    def limit_at(self, t_us: int) -> float | None:
        """The limit in force at `t_us` (threshold_active)."""
        return self.emergency_w if self.emergency_at(t_us) else self.normal_w

    def next_edge(self, t_us: int) -> int | None:
        """The first instant after `t_us` at which the emergency profile starts or ends."""
        profile = self._armed()
        if profile is None:
            return None
        for edge in (profile.activation_us, profile.end_us):
            if edge > t_us:
                return edge
        return None


def limited_flow(net: float, limit: float | None) -> tuple[float, float]:
    """(import W, export W) of a net power, after the load limiter."""
    if net >= 0:
        return (net if limit is None else min(net, limit)), 0.0
    return 0.0, -net


def mean_limited_flow(a: float, m: float, b: float, limit: float | None) -> tuple[float, float]:
    """Mean (import W, export W) over a span from net powers at its start, middle and end
    (Simpson's rule), after the load limiter."""
    if limit is None:
        if a >= 0 and m >= 0 and b >= 0:
            return (a + 4 * m + b) / 6, 0.0
        if a <= 0 and m <= 0 and b <= 0:
            return 0.0, -(a + 4 * m + b) / 6
    # PV crossing over, or limited: import and export each have a kink; split point by point
    (ia, ea), (im, em), (ib, eb) = (
        limited_flow(a, limit),
        limited_flow(m, limit),
        limited_flow(b, limit),
    )
    return (ia + 4 * im + ib) / 6, (ea + 4 * em + eb) / 6


# -- activity calendar -----------------------------------------------------------------------


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


_TARIFF_BY_HOUR = tuple(tariff_of(datetime(2000, 1, 1, hour, tzinfo=UTC)) for hour in range(24))
TARIFF_PROGRAMMES: dict[str, tuple[int, ...]] = {"TOU": _TARIFF_BY_HOUR, "FLAT": (0,) * 24}
"""Tariff programme name -> the import register index (0..3 = 1.8.1..1.8.4) for each hour."""
DEFAULT_PROGRAMME = "TOU"

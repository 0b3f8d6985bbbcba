"""The simulated meter's COSEM control objects: disconnect control, limiter, activity calendar.

Disconnect control 0.0.96.3.10.255 (class 70, version 0): attribute 2 output_state (boolean),
3 control_state (enum: 0 disconnected, 1 connected, 2 ready_for_reconnection), 4 control_mode
(enum 0..6, settable); methods 1 remote_disconnect, 2 remote_reconnect. The transitions and what
each mode allows are the Blue Book's (drivers/sim/control).

Limiter 0.0.17.0.0.255 (class 71, version 0), thresholds in W as double-long-unsigned, 0 = no
limit: 2 monitored_value (import power), 3 threshold_active (the limit in force now: the
emergency threshold while the emergency profile is active, else the normal one; a SET of it
sets the normal threshold, as the simulator always accepted), 4 threshold_normal, 5
threshold_emergency, 6/7 min over/under threshold durations, 8 emergency_profile {id
long-unsigned, activation_time date-time octet-string, duration double-long-unsigned s}, 9
emergency_profile_group_id_list (array of long-unsigned), 10 emergency_profile_active (boolean,
read-only), 11 actions (no scripts). Settable: 3, 4, 5, 8, 9.

Activity calendar 0.0.13.0.0.255 (class 20, version 0): 2 calendar_name_active, 6
calendar_name_passive (settable: the name of one of the simulator's tariff programmes, "TOU" or
"FLAT"; another name is refused), 10 activate_passive_calendar_time (no scheduled activation);
method 1 activate_passive_calendar makes the passive programme the active one at once. The
season, week and day tables are not served: the programmes are built in and known by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.dlms.server import values as v
from drivers.dlms.server.model import AccessFailure, DataAccessResult
from drivers.obis import parse_obis
from drivers.sim import control
from drivers.sim import physics as ph
from drivers.sim.physics import SimulatedMeter
from drivers.sim.profile_log import from_us

if TYPE_CHECKING:
    from drivers.sim.cosem.objects import CosemObject

REGISTER, ACTIVITY_CALENDAR, DISCONNECT_CONTROL, LIMITER = 3, 20, 70, 71
DISCONNECTOR = "0.0.96.3.10.255"
LIMITER_OBIS = "0.0.17.0.0.255"
CALENDAR_OBIS = "0.0.13.0.0.255"
_WILDCARD_DATETIME = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
_MAX_THRESHOLD = 0xFFFFFFFF


def _refuse(reason: str) -> AccessFailure:
    return AccessFailure(DataAccessResult.OTHER_REASON, reason)


# -- disconnect control ----------------------------------------------------------------------


def _disconnect(meter: SimulatedMeter, _params: Any) -> None:
    meter.disconnect()


def _reconnect(meter: SimulatedMeter, _params: Any) -> None:
    meter.reconnect()


def _set_mode(meter: SimulatedMeter, value: Any) -> None:
    try:
        meter.set_control_mode(v.as_int(value))
    except v.BadValue:
        raise
    except ValueError as exc:
        raise _refuse(str(exc)) from None


def _disconnector(make: type[CosemObject]) -> CosemObject:
    return make(
        DISCONNECT_CONTROL,
        DISCONNECTOR,
        getters={
            2: lambda m: v.boolean(m.connected),
            3: lambda m: v.enum(control.STATE_CODES[m.control_state]),
            4: lambda m: v.enum(m.control_mode),
        },
        setters={4: _set_mode},
        methods={1: _disconnect, 2: _reconnect},
    )


# -- limiter ---------------------------------------------------------------------------------


def _watts(value: float | None) -> v.Data:
    return v.double_long_unsigned(min(int(value or 0), _MAX_THRESHOLD))


def _threshold(value: Any) -> float | None:
    watts = v.as_int(value)
    if watts < 0:
        raise v.BadValue("a threshold is not negative")
    return float(watts) if watts else None


def _set_normal(meter: SimulatedMeter, value: Any) -> None:
    meter.set_limit(_threshold(value))


def _set_emergency(meter: SimulatedMeter, value: Any) -> None:
    meter.set_emergency_threshold(_threshold(value))


def _profile(meter: SimulatedMeter) -> v.Data:
    profile = meter.limiter.profile
    if profile is None:
        return v.structure(
            v.long_unsigned(0), v.octets(_WILDCARD_DATETIME), v.double_long_unsigned(0)
        )
    activation = from_us(profile.activation_us) + meter.clock_offset  # on the meter's clock
    return v.structure(
        v.long_unsigned(profile.profile_id),
        v.octets(v.datetime_octets(activation)),
        v.double_long_unsigned(profile.duration_s),
    )


def _set_profile(meter: SimulatedMeter, value: Any) -> None:
    items = v.as_structure(value)
    if len(items) != 3:
        raise v.BadValue("emergency_profile is {id, activation_time, duration}")
    profile_id, duration = v.as_int(items[0]), v.as_int(items[2])
    if not 0 <= profile_id <= 0xFFFF or not 0 <= duration <= _MAX_THRESHOLD:
        raise v.BadValue("emergency profile id or duration out of range")
    activation = v.parse_datetime_octets(v.as_octets(items[1]))
    meter.set_emergency_profile(profile_id, activation, duration)


def _groups(meter: SimulatedMeter) -> v.Data:
    return v.array([v.long_unsigned(g) for g in meter.limiter.group_ids])


def _set_groups(meter: SimulatedMeter, value: Any) -> None:
    ids = tuple(v.as_int(item) for item in v.as_array(value))
    if not all(0 <= i <= 0xFFFF for i in ids):
        raise v.BadValue("a group id is a long-unsigned")
    meter.set_emergency_groups(ids)


def _no_script() -> v.Data:
    return v.structure(v.octets(bytes(6)), v.long_unsigned(0))


def _limiter(make: type[CosemObject]) -> CosemObject:
    monitored = v.structure(
        v.long_unsigned(REGISTER), v.octets(bytes(parse_obis(ph.IMPORT_POWER))), v.integer(2)
    )
    return make(
        LIMITER,
        LIMITER_OBIS,
        getters={
            2: lambda _m: monitored,
            3: lambda m: _watts(m.active_limit_w()),
            4: lambda m: _watts(m.limit_w),
            5: lambda m: _watts(m.limiter.emergency_w),
            6: lambda _m: v.double_long_unsigned(60),
            7: lambda _m: v.double_long_unsigned(60),
            8: _profile,
            9: _groups,
            10: lambda m: v.boolean(m.emergency_active()),
            11: lambda _m: v.structure(_no_script(), _no_script()),
        },
        setters={
            3: _set_normal,
            4: _set_normal,
            5: _set_emergency,
            8: _set_profile,
            9: _set_groups,
        },
    )


# -- activity calendar -----------------------------------------------------------------------


def _set_passive(meter: SimulatedMeter, value: Any) -> None:
    name = v.as_octets(value).decode("ascii", errors="replace")
    try:
        meter.set_passive_programme(name)
    except ValueError as exc:
        raise _refuse(str(exc)) from None


def _activate(meter: SimulatedMeter, _params: Any) -> None:
    meter.activate_passive()


def _calendar(make: type[CosemObject]) -> CosemObject:
    return make(
        ACTIVITY_CALENDAR,
        CALENDAR_OBIS,
        getters={
            2: lambda m: v.octets(m.tariff_programme.encode("ascii")),
            6: lambda m: v.octets(m.passive_programme.encode("ascii")),
            10: lambda _m: v.octets(_WILDCARD_DATETIME),
        },
        setters={6: _set_passive},
        methods={1: _activate},
    )


def cosem_objects(make: type[CosemObject]) -> list[CosemObject]:
    """Disconnect control, limiter and activity calendar, as `make` (objects.CosemObject)
    builds them."""
    return [_disconnector(make), _limiter(make), _calendar(make)]

"""The COSEM objects of one simulated meter, backed by a `SimulatedMeter`.

`MeterObjects(meter)` is the meter's `CosemObjectModel`, what the COSEM server of
drivers/dlms/server serves. The table is static and shared by every meter (the meter is passed
to each call), so a fleet of thousands costs no per-meter object memory. Values are built and
read with `drivers.dlms.server.values`: the codec is imported only inside drivers/dlms
(licence, see README). Registers (class 3) and their scalers:

| OBIS                         | quantity              | type                 | scaler | unit   |
|------------------------------|-----------------------|----------------------|--------|--------|
| 1.0.1.8.0..4.255, 1.0.2.8.0  | energy import/export  | double-long-unsigned | 0      | Wh(30) |
| 1.0.1.7.0, 1.0.2.7.0         | power import/export   | double-long-unsigned | 0      | W(27)  |
| 1.0.21/41/61.7.0             | net power per phase   | double-long          | 0      | W(27)  |
| 1.0.32/52/72.7.0             | voltage L1..L3        | long-unsigned        | -1     | V(35)  |
| 1.0.31/51/71.7.0             | current L1..L3        | double-long-unsigned | -3     | A(33)  |
| 1.0.14.7.0                   | frequency             | long-unsigned        | -2     | Hz(44) |

`set_register_scaler` re-parametrises a register of one meter (its `SimulatedMeter.scalers`);
the clock reports the meter's `clock_status` in its date-time and in attribute 4.

Disconnect control (class 70), limiter (class 71) and activity calendar (class 20): see
drivers/sim/cosem/controls.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from drivers.dlms.server import values as v
from drivers.dlms.server.model import AccessFailure, DataAccessResult, ObjectInfo, Selection
from drivers.obis import parse_obis
from drivers.sim import physics as ph
from drivers.sim.cosem import billing, controls, events, profiles
from drivers.sim.physics import SimulatedMeter

DATA, REGISTER, PROFILE_GENERIC, CLOCK = 1, 3, 7, 8

UNIT_WH, UNIT_W, UNIT_V, UNIT_A, UNIT_HZ = 30, 27, 35, 33, 44

SERIAL_NUMBER = "0.0.96.1.0.255"
DEVICE_NAME = "0.0.42.0.0.255"
EVENT_LOG = "0.0.99.98.0.255"

Getter = Callable[[SimulatedMeter], v.Data]


@dataclass
class CosemObject:
    """One object: readable attributes, settable attributes, methods. Attribute 1 is implied."""

    class_id: int
    obis: str
    version: int = 0
    getters: dict[int, Getter] = field(default_factory=dict)
    setters: dict[int, Callable[[SimulatedMeter, Any], None]] = field(default_factory=dict)
    methods: dict[int, Callable[[SimulatedMeter, Any], None]] = field(default_factory=dict)
    secret: frozenset[int] = frozenset()
    profile: profiles.ProfileSpec | None = None

    @property
    def logical_name(self) -> bytes:
        return bytes(parse_obis(self.obis))

    @property
    def attributes(self) -> list[int]:
        return sorted({1, *self.getters, *self.setters, *self.secret})

    def info(self) -> ObjectInfo:
        return ObjectInfo(
            class_id=self.class_id,
            version=self.version,
            logical_name=self.logical_name,
            attributes=tuple(self.attributes),
            secret=self.secret,
            writable=frozenset(self.setters),
            selective=frozenset({2}) if self.profile is not None else frozenset(),
            methods=tuple(self.methods),
        )

    def get(self, meter: SimulatedMeter, attribute: int, selection: Selection | None) -> v.Data:
        if attribute in self.secret:
            raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "a secret is never read")
        if selection is not None:
            if self.profile is None or attribute != 2:
                raise AccessFailure(DataAccessResult.OTHER_REASON, "no selective access here")
            return profiles.buffer(self.profile, meter, selection.selector, selection.params)
        if attribute == 1:
            return v.octets(self.logical_name)
        getter = self.getters.get(attribute)
        if getter is None:
            raise AccessFailure(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {attribute}")
        return getter(meter)

    def check_writable(self, attribute: int) -> None:
        if attribute not in self.setters:
            if attribute in self.attributes:
                raise AccessFailure(DataAccessResult.READ_WRITE_DENIED, "read-only attribute")
            raise AccessFailure(DataAccessResult.OBJECT_UNDEFINED, f"no attribute {attribute}")

    def set(self, meter: SimulatedMeter, attribute: int, value: Any) -> None:
        self.check_writable(attribute)
        setter = self.setters[attribute]
        try:
            setter(meter, value)
        except v.BadValue as exc:
            raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, str(exc)) from None

    def act(self, meter: SimulatedMeter, method: int, params: Any) -> None:
        handler = self.methods.get(method)
        if handler is None:
            raise AccessFailure(DataAccessResult.OBJECT_UNDEFINED, f"no method {method}")
        handler(meter, params)


# -- registers -------------------------------------------------------------------------------


def _scaled(meter: SimulatedMeter, obis: str, scaler: int) -> int:
    value = meter.value(obis)
    if not isinstance(value, Decimal):
        raise AccessFailure(DataAccessResult.HARDWARE_FAULT, f"{obis} has no value")
    return int(value.scaleb(-scaler).to_integral_value(rounding=ROUND_HALF_EVEN))


def _register(obis: str, scaler: int, unit: int, encode: Callable[[int], v.Data]) -> CosemObject:
    # `scaler` is the table's default; a meter's own `scalers` (a re-parametrisation) win
    def value(meter: SimulatedMeter) -> v.Data:
        return encode(_scaled(meter, obis, meter.scalers.get(obis, scaler)))

    def scaler_unit(meter: SimulatedMeter) -> v.Data:
        return v.structure(v.integer(meter.scalers.get(obis, scaler)), v.enum(unit))

    return CosemObject(REGISTER, obis, getters={2: value, 3: scaler_unit})


def _clamp_unsigned32(value: int) -> v.Data:
    return v.double_long_unsigned(min(max(value, 0), 0xFFFFFFFF))


def _clamp_unsigned16(value: int) -> v.Data:
    return v.long_unsigned(min(max(value, 0), 0xFFFF))


def _clamp_signed32(value: int) -> v.Data:
    return v.double_long(min(max(value, -0x80000000), 0x7FFFFFFF))


def _registers() -> list[CosemObject]:
    out = [_register(ph.IMPORT_TOTAL, 0, UNIT_WH, _clamp_unsigned32)]
    out += [_register(o, 0, UNIT_WH, _clamp_unsigned32) for o in ph.IMPORT_TARIFF]
    out.append(_register(ph.EXPORT_TOTAL, 0, UNIT_WH, _clamp_unsigned32))
    out.append(_register(ph.IMPORT_POWER, 0, UNIT_W, _clamp_unsigned32))
    out.append(_register(ph.EXPORT_POWER, 0, UNIT_W, _clamp_unsigned32))
    out += [_register(o, 0, UNIT_W, _clamp_signed32) for o in ph.POWER_PHASE]
    out += [_register(o, -1, UNIT_V, _clamp_unsigned16) for o in ph.VOLTAGE]
    out += [_register(o, -3, UNIT_A, _clamp_unsigned32) for o in ph.CURRENT]
    out.append(_register(ph.FREQUENCY, -2, UNIT_HZ, _clamp_unsigned16))
    return out


def set_register_scaler(meter: SimulatedMeter, obis: str, scaler: int) -> None:
    """Re-parametrise one register of `meter`: from now on it reports its value at resolution
    10^scaler (attribute 3 says so, attribute 2 is the same physical quantity re-expressed, and
    so are the profile columns capturing it), as a meter re-parametrised in the field does."""
    found = OBJECTS.get(obis)
    if found is None or found.class_id != REGISTER:
        raise ValueError(f"{obis} is no register of the simulated meter")
    if not -128 <= scaler <= 127:
        raise ValueError("a scaler is an integer (-128..127)")
    meter.sync()
    meter.scalers[obis] = scaler


# -- clock -----------------------------------------------------------------------------------

_WILDCARD_DATETIME = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"


def _clock_time(meter: SimulatedMeter) -> v.Data:
    meter.sync()
    return v.octets(v.datetime_octets(meter.now(), meter.clock_status))


def _set_clock(meter: SimulatedMeter, value: Any) -> None:
    meter.set_time(v.parse_datetime_octets(v.as_octets(value)))


def _clock() -> CosemObject:
    return CosemObject(
        CLOCK,
        ph.CLOCK,
        getters={
            2: _clock_time,
            3: lambda _m: v.long(0),  # time zone: UTC
            4: lambda m: v.unsigned(m.clock_status),
            5: lambda _m: v.octets(_WILDCARD_DATETIME),
            6: lambda _m: v.octets(_WILDCARD_DATETIME),
            7: lambda _m: v.integer(0),
            8: lambda _m: v.boolean(False),
            9: lambda _m: v.enum(1),  # clock base: internal crystal
        },
        setters={2: _set_clock},
    )


# -- profiles --------------------------------------------------------------------------------


def _profile(obis: str, spec: profiles.ProfileSpec) -> CosemObject:
    return CosemObject(
        PROFILE_GENERIC,
        obis,
        version=1,
        getters={
            2: lambda m: profiles.buffer(spec, m, None, None),
            3: lambda _m: profiles.capture_objects(spec),
            4: lambda _m: v.double_long_unsigned(spec.capture_period),
            5: lambda _m: v.enum(1),  # sort method: fifo
            6: lambda _m: v.structure(
                v.long_unsigned(0), v.octets(bytes(6)), v.integer(0), v.long_unsigned(0)
            ),
            7: lambda m: v.double_long_unsigned(profiles.entries_in_use(spec, m)),
            8: lambda m: v.double_long_unsigned(spec.depth(m)),
        },
        profile=spec,
    )


# -- identity --------------------------------------------------------------------------------


def _identity() -> list[CosemObject]:
    return [
        CosemObject(DATA, SERIAL_NUMBER, getters={2: lambda m: v.octets(m.meter_id.encode())}),
        CosemObject(
            DATA, DEVICE_NAME, getters={2: lambda m: v.octets(b"SIM" + m.meter_id.encode())}
        ),
    ]


def _build() -> dict[str, CosemObject]:
    objects = [
        _clock(),
        *_registers(),
        _profile(ph.LOAD_PROFILE, profiles.LOAD_PROFILE_SPEC),
        _profile(billing.DAILY_VALUES, billing.DAILY_VALUES_SPEC),
        _profile(billing.BILLING_PERIOD_VALUES, billing.BILLING_PERIOD_SPEC),
        *(_profile(log, spec) for log, spec in events.EVENT_LOG_SPECS.items()),
        *events.cosem_objects(CosemObject),
        *controls.cosem_objects(CosemObject),
        *_identity(),
    ]
    return {o.obis: o for o in objects}


OBJECTS: dict[str, CosemObject] = _build()
"""Every object except the association, which the server answers itself (it knows the session)."""

OBJECT_LIST: tuple[ObjectInfo, ...] = tuple(o.info() for o in OBJECTS.values())


def lookup(class_id: int, obis: str) -> CosemObject:
    """The object named by (class, OBIS); AccessFailure object-undefined or class-inconsistent."""
    found = OBJECTS.get(obis)
    if found is None:
        raise AccessFailure(DataAccessResult.OBJECT_UNDEFINED, f"no object {obis}")
    if found.class_id != class_id:
        raise AccessFailure(
            DataAccessResult.OBJECT_CLASS_INCONSISTENT,
            f"{obis} is class {found.class_id}, not {class_id}",
        )
    return found


class MeterObjects:
    """The `CosemObjectModel` of one simulated meter: the shared table applied to `meter`."""

    __slots__ = ("meter",)

    def __init__(self, meter: SimulatedMeter) -> None:
        self.meter = meter

    @property
    def name(self) -> str:
        return self.meter.meter_id

    def get(self, class_id: int, obis: str, attribute: int, selection: Selection | None) -> bytes:
        return lookup(class_id, obis).get(self.meter, attribute, selection).to_bytes()

    def set(self, class_id: int, obis: str, attribute: int, value: bytes) -> None:
        target = lookup(class_id, obis)
        target.check_writable(attribute)  # a read-only attribute is refused before its value
        try:
            parsed = v.parse_single(value)
        except v.BadValue:
            raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, "unreadable value") from None
        target.set(self.meter, attribute, parsed)

    def action(self, class_id: int, obis: str, method: int, params: bytes | None) -> None:
        target = lookup(class_id, obis)
        try:
            value = v.parse_single(params) if params else None
        except v.BadValue:
            raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, "unreadable parameters") from None
        target.act(self.meter, method, value)

    def object_list(self) -> tuple[ObjectInfo, ...]:
        return OBJECT_LIST

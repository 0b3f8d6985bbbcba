"""The simulated meter's event logs, event code objects and event push (class 40 push setup).

Event logs (Profile Generic, class 7, capture period 0 = on event), as an IDIS meter keeps them:
each row is {clock 0.0.1.0.0.255 attr 2, event code 0.0.96.11.e.255 attr 2}; the meter's one
list of `LoggedEvent`s (drivers/sim/physics.py) is split by the IDIS log of each code
(drivers.dlms.events.log_of): the standard event log 0.0.99.98.0.255 (power down/up, clock
adjusted), the fraud detection log 0.0.99.98.1.255 (covers) and the disconnector control log
0.0.99.98.2.255 (remote disconnection/connection, limiter). Each event code object (class 1)
holds the code of its log's latest event.

Push setup 0.0.25.9.0.255 (class 40, version 0): attribute 2 push_object_list (the event push
of drivers.dlms.push), attribute 3 send_destination_and_method {transport_service enum 0 = TCP,
destination octet-string "host:port", message enum 0 = A-XDR APDU}, settable (an empty
destination turns pushing off); method 1 push sends the latest event now. With a destination
set, every power down the meter logs (its last gasp) is pushed: a TCP connection to the
destination, one wrapper frame (source wPort 1 = the meter's logical device, destination wPort
0x66 = the push client SAP) carrying a DataNotification, then close. One attempt
(number_of_retries 0); a failed one is logged. `configure_push` sets the destination without
DLMS (what a simulated fleet does); `drain_pushes` waits for pushes under way (tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drivers.dlms import events as codes
from drivers.dlms import push
from drivers.dlms.server import values as v
from drivers.dlms.server.model import AccessFailure, DataAccessResult
from drivers.dlms.wrapper import WrapperFrame, encode_wrapper
from drivers.obis import parse_obis
from drivers.sim import physics as ph
from drivers.sim.cosem.profiles import CLOCK_COLUMN, Column, ProfileSpec, Row
from drivers.sim.physics import LoggedEvent, SimulatedMeter

if TYPE_CHECKING:
    from drivers.sim.cosem.objects import CosemObject

LOG = logging.getLogger(__name__)

DATA_CLASS = 1
PUSH_SETUP_CLASS = 40
# the logical device name the simulated meter reports (0.0.42.0.0.255, objects.py): a 3-letter
# manufacturer flag, then the meter id, as IDIS names devices
DEVICE_NAME_FLAG = b"SIM"
LOGICAL_DEVICE = 1  # the wrapper wPort of the meter's management logical device
PUSH_TRIGGERS = frozenset({ph.EVENT_POWER_DOWN})
CONNECT_TIMEOUT_S = 5.0


def device_name(meter: SimulatedMeter) -> bytes:
    return DEVICE_NAME_FLAG + meter.meter_id.encode()


# -- event logs ------------------------------------------------------------------------------


def _rows_of(log: str) -> Callable[[SimulatedMeter], list[Row]]:
    def rows(meter: SimulatedMeter) -> list[Row]:
        return [
            (event.clock, [v.datetime_octets_bytes(event.clock), _code_cell(event.code)])
            for event in meter.events
            if codes.log_of(event.code) == log
        ]

    return rows


def _code_cell(code: int) -> bytes:
    return b"\x11" + bytes([code & 0xFF])  # unsigned


def _spec(log: str) -> ProfileSpec:
    return ProfileSpec(
        columns=(CLOCK_COLUMN, Column(DATA_CLASS, codes.EVENT_CODE_OBJECTS[log])),
        capture_period=0,
        rows=_rows_of(log),
        depth=lambda meter: meter.events.maxlen or 0,
    )


EVENT_LOG_SPECS: dict[str, ProfileSpec] = {log: _spec(log) for log in codes.EVENT_LOGS}


def _latest_code(log: str) -> Callable[[SimulatedMeter], v.Data]:
    def latest(meter: SimulatedMeter) -> v.Data:
        for event in reversed(meter.events):
            if codes.log_of(event.code) == log:
                return v.unsigned(event.code & 0xFF)
        return v.unsigned(0)

    return latest


# -- push ------------------------------------------------------------------------------------

_PENDING: set[asyncio.Task[None]] = set()


class _Pusher:
    """A meter's push state, kept as its `on_event` listener: where to push, and the invoke id
    of the next DataNotification."""

    __slots__ = ("destination", "invoke_id", "meter", "triggers")

    def __init__(self, meter: SimulatedMeter, destination: str, triggers: frozenset[int]) -> None:
        self.meter = meter
        self.destination = destination
        self.triggers = triggers
        self.invoke_id = 0

    def __call__(self, event: LoggedEvent) -> None:
        if event.code in self.triggers:
            self.send(event)

    def send(self, event: LoggedEvent) -> None:
        self.invoke_id = (self.invoke_id + 1) & 0x00FFFFFF
        apdu = push.encode_event_push(
            push.EventPush(
                device_name(self.meter),
                event.code,
                event.clock,
                invoke_id=self.invoke_id,
                sent_at=self.meter.now(),
            )
        )
        frame = encode_wrapper(WrapperFrame(LOGICAL_DEVICE, push.PUSH_CLIENT_SAP, apdu))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            LOG.warning("meter %s: no event loop, push not sent", self.meter.meter_id)
            return
        task = loop.create_task(_deliver(self.meter.meter_id, self.destination, frame))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)


def _split_destination(destination: str) -> tuple[str, int]:
    host, sep, port = destination.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"push destination {destination!r} is not host:port")
    return host.strip("[]"), int(port)


async def _deliver(meter_id: str, destination: str, frame: bytes) -> None:
    host, port = _split_destination(destination)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(frame)
                await writer.drain()
            finally:
                writer.close()
                await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        LOG.warning("meter %s: push to %s failed: %s", meter_id, destination, exc)


def configure_push(
    meter: SimulatedMeter, destination: str | None, *, triggers: frozenset[int] = PUSH_TRIGGERS
) -> None:
    """Push `triggers` events of `meter` to `destination` ("host:port"); None stops pushing."""
    if not destination:
        if isinstance(meter.on_event, _Pusher):
            meter.on_event = None
        return
    _split_destination(destination)  # refuse a bad one now, not at the first power failure
    meter.on_event = _Pusher(meter, destination, triggers)


def push_destination(meter: SimulatedMeter) -> str | None:
    return meter.on_event.destination if isinstance(meter.on_event, _Pusher) else None


async def drain_pushes() -> None:
    """Wait until every push under way has been delivered or has failed."""
    while _PENDING:
        await asyncio.gather(*list(_PENDING), return_exceptions=True)


def _push_object_list(_meter: SimulatedMeter) -> v.Data:
    return v.array(
        [
            v.structure(
                v.long_unsigned(class_id),
                v.octets(bytes(parse_obis(obis))),
                v.integer(attribute),
                v.long_unsigned(0),
            )
            for class_id, obis, attribute in push.EVENT_PUSH_OBJECTS
        ]
    )


def _destination(meter: SimulatedMeter) -> v.Data:
    return v.structure(
        v.enum(push.TRANSPORT_TCP),
        v.octets((push_destination(meter) or "").encode()),
        v.enum(push.MESSAGE_AXDR),
    )


def _set_destination(meter: SimulatedMeter, value: Any) -> None:
    fields = v.as_structure(value)
    if len(fields) != 3:
        raise v.BadValue("send_destination_and_method is a structure of 3")
    transport, message = v.as_int(fields[0]), v.as_int(fields[2])
    if transport != push.TRANSPORT_TCP or message != push.MESSAGE_AXDR:
        raise AccessFailure(
            DataAccessResult.OTHER_REASON, "only TCP transport with A-XDR messages is supported"
        )
    try:
        configure_push(meter, v.as_octets(fields[1]).decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise v.BadValue(str(exc)) from None


def _push_now(meter: SimulatedMeter, _params: Any) -> None:
    pusher = meter.on_event
    if not isinstance(pusher, _Pusher):
        raise AccessFailure(DataAccessResult.OTHER_REASON, "no push destination set")
    if not meter.events:
        raise AccessFailure(DataAccessResult.OTHER_REASON, "no event to push")
    pusher.send(meter.events[-1])


def cosem_objects(make: type[CosemObject]) -> list[CosemObject]:
    """The event code objects and the push setup, as `make` (objects.CosemObject) builds them
    (the event logs themselves are `EVENT_LOG_SPECS`, served as profiles)."""
    code_objects = [
        make(DATA_CLASS, code_obis, getters={2: _latest_code(log)})
        for log, code_obis in codes.EVENT_CODE_OBJECTS.items()
    ]
    push_setup = make(
        PUSH_SETUP_CLASS,
        push.PUSH_SETUP_OBIS,
        getters={
            2: _push_object_list,
            3: _destination,
            4: lambda _m: v.array([]),  # communication_window: any time
            5: lambda _m: v.long_unsigned(0),  # randomisation_start_interval
            6: lambda _m: v.unsigned(0),  # number_of_retries
            7: lambda _m: v.long_unsigned(0),  # repetition_delay
        },
        setters={3: _set_destination},
        methods={1: _push_now},
    )
    return [*code_objects, push_setup]

"""DLMS meter events: the standard event code table and the decoding of event-log rows.

An IDIS meter keeps its events in several Profile Generic logs, each a buffer of rows
{clock 0.0.1.0.0.255 attr 2, event code 0.0.96.11.e.255 attr 2}; the code numbering is one
space shared by the logs (IDIS package 2 / DLMS UA Blue Book object list, as used by IDIS meters
such as the AM540 and in EnergyICT's and others' head-end drivers):

| log                           | OBIS            | codes                                  |
|-------------------------------|-----------------|----------------------------------------|
| standard event log            | 0.0.99.98.0.255 | 1..19, 47, 48, 51, 255 (power, clock,  |
|                               |                 | firmware, memory, configuration)       |
| fraud detection log           | 0.0.99.98.1.255 | 40..46, 49, 50 (covers, DC field, auth)|
| disconnector control log      | 0.0.99.98.2.255 | 59..69 (relay, limiter)                |

A clock adjustment is two entries: code 4 stamped with the old time, code 5 with the new one.
Codes not in the table decode too, with a generic text: a meter may log manufacturer codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.contract import MeterEvent
from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import decode_datetime
from drivers.errors import MalformedFrame

STANDARD_EVENT_LOG = "0.0.99.98.0.255"
FRAUD_DETECTION_LOG = "0.0.99.98.1.255"
DISCONNECTOR_CONTROL_LOG = "0.0.99.98.2.255"
EVENT_LOGS = (STANDARD_EVENT_LOG, FRAUD_DETECTION_LOG, DISCONNECTOR_CONTROL_LOG)

# the event code object whose value each log captures (attribute 2 of a class 1 Data object)
EVENT_CODE_OBJECTS = {
    STANDARD_EVENT_LOG: "0.0.96.11.0.255",
    FRAUD_DETECTION_LOG: "0.0.96.11.1.255",
    DISCONNECTOR_CONTROL_LOG: "0.0.96.11.2.255",
}

POWER_DOWN = 1
POWER_UP = 2
CLOCK_ADJUSTED_OLD = 4
CLOCK_ADJUSTED_NEW = 5
TERMINAL_COVER_OPENED = 40
TERMINAL_COVER_CLOSED = 41
METER_COVER_OPENED = 44
METER_COVER_CLOSED = 45
REMOTE_DISCONNECTION = 62
REMOTE_CONNECTION = 63
LIMITER_THRESHOLD_EXCEEDED = 65
LIMITER_THRESHOLD_OK = 66
LIMITER_THRESHOLD_CHANGED = 67


@dataclass(frozen=True, slots=True)
class EventCode:
    code: int
    name: str
    text: str
    log: str


def _codes(log: str, *entries: tuple[int, str, str]) -> list[EventCode]:
    return [EventCode(code, name, text, log) for code, name, text in entries]


_TABLE = [
    *_codes(
        STANDARD_EVENT_LOG,
        (1, "power_down", "Power down (all phases)"),
        (2, "power_up", "Power up (all phases)"),
        (3, "dst_changed", "Daylight saving time enabled or disabled"),
        (4, "clock_adjusted_old", "Clock adjusted (old date/time)"),
        (5, "clock_adjusted_new", "Clock adjusted (new date/time)"),
        (6, "clock_invalid", "Clock invalid"),
        (7, "replace_battery", "Replace battery"),
        (8, "battery_voltage_low", "Battery voltage low"),
        (9, "tou_activated", "TOU activated"),
        (10, "error_register_cleared", "Error register cleared"),
        (11, "alarm_register_cleared", "Alarm register cleared"),
        (12, "program_memory_error", "Program memory error"),
        (13, "ram_error", "RAM error"),
        (14, "nv_memory_error", "NV memory error"),
        (15, "watchdog_error", "Watchdog error"),
        (16, "measurement_system_error", "Measurement system error"),
        (17, "firmware_ready", "Firmware ready for activation"),
        (18, "firmware_activated", "Firmware activated"),
        (19, "passive_tou_programmed", "Passive TOU programmed"),
        (47, "parameters_changed", "One or more parameters changed"),
        (48, "global_keys_changed", "Global key(s) changed"),
        (51, "firmware_verification_failed", "Firmware verification failed"),
        (255, "event_log_cleared", "Event log cleared"),
    ),
    *_codes(
        FRAUD_DETECTION_LOG,
        (40, "terminal_cover_opened", "Terminal cover removed"),
        (41, "terminal_cover_closed", "Terminal cover closed"),
        (42, "strong_dc_field", "Strong DC field detected"),
        (43, "strong_dc_field_gone", "No strong DC field anymore"),
        (44, "meter_cover_opened", "Meter cover removed"),
        (45, "meter_cover_closed", "Meter cover closed"),
        (46, "authentication_failures", "Association authentication failure (n times)"),
        (49, "decryption_failures", "Decryption or authentication failure (n times)"),
        (50, "replay_attack", "Replay attack"),
    ),
    *_codes(
        DISCONNECTOR_CONTROL_LOG,
        (59, "ready_for_reconnection", "Disconnector ready for manual reconnection"),
        (60, "manual_disconnection", "Manual disconnection"),
        (61, "manual_connection", "Manual connection"),
        (62, "remote_disconnection", "Remote disconnection"),
        (63, "remote_connection", "Remote connection"),
        (64, "local_disconnection", "Local disconnection"),
        (65, "limiter_threshold_exceeded", "Limiter threshold exceeded"),
        (66, "limiter_threshold_ok", "Limiter threshold ok"),
        (67, "limiter_threshold_changed", "Limiter threshold changed"),
        (68, "disconnect_reconnect_failure", "Disconnect/reconnect failure"),
        (69, "local_reconnection", "Local reconnection"),
    ),
]

EVENT_CODES: dict[int, EventCode] = {entry.code: entry for entry in _TABLE}


def describe(code: int) -> EventCode:
    """The table's entry for `code`; an unknown code gets a generic name and text (and the
    standard log, where a meter puts what fits no other)."""
    known = EVENT_CODES.get(code)
    if known is not None:
        return known
    return EventCode(code, f"event_{code}", f"Event code {code}", STANDARD_EVENT_LOG)


def event_text(code: int) -> str:
    return describe(code).text


def event_name(code: int) -> str:
    return describe(code).name


def log_of(code: int) -> str:
    """The IDIS log that records `code`."""
    return describe(code).log


def meter_event(meter_id: str, code: int, time: datetime, log: str) -> MeterEvent:
    entry = describe(code)
    return MeterEvent(
        meter_id=meter_id, code=code, time=time, log=log, name=entry.name, text=entry.text
    )


def decode_row(meter_id: str, log: str, clock: axdr.Value, code: axdr.Value) -> MeterEvent:
    """One event-log row's clock cell and event-code cell (as `axdr` decodes them) as a
    MeterEvent; MalformedFrame when the clock is no single instant or the code no number."""
    if not isinstance(clock, bytes):
        raise MalformedFrame(f"event log row has no date-time clock: {clock!r}")
    when, _status = decode_datetime(clock)
    if isinstance(code, bool) or not isinstance(code, int) or code < 0:
        raise MalformedFrame(f"event code {code!r} is not an unsigned number")
    return meter_event(meter_id, code, when, log)

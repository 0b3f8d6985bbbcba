"""The event code table, row and push decoding, and the simulated meter's event physics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.contract import MeterEvent
from drivers.dlms import events as codes
from drivers.dlms import push
from drivers.dlms.client.cosem_values import encode_datetime
from drivers.errors import MalformedFrame
from drivers.sim import physics as ph
from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.physics import SimulatedMeter

START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


def test_the_simulators_codes_mean_what_the_table_says() -> None:
    expected = {
        ph.EVENT_POWER_DOWN: ("power_down", codes.STANDARD_EVENT_LOG),
        ph.EVENT_POWER_UP: ("power_up", codes.STANDARD_EVENT_LOG),
        ph.EVENT_CLOCK_ADJUSTED: ("clock_adjusted_old", codes.STANDARD_EVENT_LOG),
        ph.EVENT_CLOCK_ADJUSTED_NEW: ("clock_adjusted_new", codes.STANDARD_EVENT_LOG),
        ph.EVENT_TERMINAL_COVER_OPENED: ("terminal_cover_opened", codes.FRAUD_DETECTION_LOG),
        ph.EVENT_TERMINAL_COVER_CLOSED: ("terminal_cover_closed", codes.FRAUD_DETECTION_LOG),
        ph.EVENT_METER_COVER_OPENED: ("meter_cover_opened", codes.FRAUD_DETECTION_LOG),
        ph.EVENT_METER_COVER_CLOSED: ("meter_cover_closed", codes.FRAUD_DETECTION_LOG),
        ph.EVENT_DISCONNECT: ("remote_disconnection", codes.DISCONNECTOR_CONTROL_LOG),
        ph.EVENT_RECONNECT: ("remote_connection", codes.DISCONNECTOR_CONTROL_LOG),
        ph.EVENT_LIMIT_EXCEEDED: ("limiter_threshold_exceeded", codes.DISCONNECTOR_CONTROL_LOG),
        ph.EVENT_LIMIT_CHANGED: ("limiter_threshold_changed", codes.DISCONNECTOR_CONTROL_LOG),
    }
    for code, (name, log) in expected.items():
        assert (codes.event_name(code), codes.log_of(code)) == (name, log)
    assert codes.event_text(44) == "Meter cover removed"
    assert codes.event_text(200) == "Event code 200"  # a manufacturer's code still decodes


def test_a_row_decodes_into_a_utc_event() -> None:
    raw = bytes.fromhex("07e90602010a002a32ff88" + "00")  # deviation -120: local UTC+02:00
    event = codes.decode_row("m9", codes.STANDARD_EVENT_LOG, raw, 2)
    assert event == MeterEvent(
        meter_id="m9",
        code=2,
        time=datetime(2025, 6, 2, 8, 0, 42, 500_000, tzinfo=UTC),
        log=codes.STANDARD_EVENT_LOG,
        name="power_up",
        text="Power up (all phases)",
    )
    assert event.time.tzinfo is UTC


@pytest.mark.parametrize(
    ("clock", "code", "why"),
    [
        (None, 1, "no date-time"),
        (bytes.fromhex("ffffffffffffffffff800000"), 1, "not a single instant"),
        (encode_datetime(START), "x", "not an unsigned number"),
        (encode_datetime(START), -1, "not an unsigned number"),
    ],
)
def test_a_bad_row_is_malformed(clock: object, code: object, why: str) -> None:
    with pytest.raises(MalformedFrame, match=why):
        codes.decode_row("m9", codes.STANDARD_EVENT_LOG, clock, code)  # type: ignore[arg-type]


def test_a_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        codes.meter_event("m9", 1, datetime(2025, 1, 1), codes.STANDARD_EVENT_LOG)


def test_event_push_round_trip_and_refusals() -> None:
    sent = push.EventPush(b"SIM42", 1, START, invoke_id=3, sent_at=None)
    apdu = push.encode_event_push(sent)
    assert push.parse_event_push(apdu) == sent
    with pytest.raises(MalformedFrame, match="ciphered"):
        push.parse_event_push(b"\xdb\x08" + bytes(30))
    with pytest.raises(MalformedFrame, match="not a DataNotification"):
        push.parse_event_push(b"\xc4" + apdu[1:])
    with pytest.raises(MalformedFrame, match="after the notification body"):
        push.parse_event_push(apdu + b"\x00")
    with pytest.raises(MalformedFrame):
        push.parse_event_push(apdu[:-3])  # truncated body


def test_no_energy_flows_while_the_power_is_off() -> None:
    clock = SimClock(start=START, factor=0.0)
    meter = SimulatedMeter("m1", clock, profile=HouseholdProfile())  # 250 W base, no PV
    meter.power_fail()
    before = meter.total_import_wh
    clock.advance(timedelta(hours=2))
    assert meter.value(ph.IMPORT_POWER) == 0
    assert meter.total_import_wh == before
    meter.power_restore()
    clock.advance(timedelta(hours=2))
    meter.sync()
    assert meter.total_import_wh > before + 400  # two hours of at least 250 W
    assert [e.code for e in meter.events][-2:] == [ph.EVENT_POWER_DOWN, ph.EVENT_POWER_UP]
    # a second failure while off, or restore while on, logs nothing
    meter.power_restore()
    assert [e.code for e in meter.events][-1] == ph.EVENT_POWER_UP and len(meter.events) == 3

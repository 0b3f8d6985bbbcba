"""The event record stored and published for meter and head-end events.

A meter event comes from a meter's event log (DLMS standard event log 0.0.99.98.0.255, read by
the collection) or from a pushed notification; both carry the meter's standard event code and
the meter's time of the event, so the same entry read twice, or read after it was pushed, has the
same key and is stored once. A head-end event (a meter that could not be collected, a channel
that went down, a clock that drifted) is raised by the service with a code of its own (from 1000
up, apart from the DLMS codes, which are below 256).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field

from drivers.contract import MeterEvent


class EventOrigin(StrEnum):
    METER = "meter"  # the meter's own log, or a push from it: one key space
    HEADEND = "headend"


class HeadendEvent(IntEnum):
    """Codes of events the head-end raises itself."""

    COLLECTION_FAILED = 1001
    CHANNEL_DOWN = 1002
    CLOCK_DRIFT = 1003
    CLOCK_SYNCHRONISED = 1004
    REPLAY_DETECTED = 1005
    AUTHENTICATION_FAILED = 1006
    READING_CONFLICT = 1007
    PUSH_REJECTED = 1008
    # a channel job that failed on every delivery, left in the cluster's dead-letter stream
    JOB_DEAD_LETTER = 1009
    # commands (headend/commands): 1020 up, leaving room below for others
    COMMAND_FAILED = 1020
    COMMAND_EXPIRED = 1021
    COMMAND_REFUSED = 1022  # an MQTT message that was not a command the head-end accepts
    # the load manager (headend/load): a feeder's minimums do not fit (or fit again), a
    # demand-response event began, changed or ended
    LOAD_NOTICE = 1025
    # demand response (headend/store/demand_response.py): a start, modification or cancellation
    DEMAND_RESPONSE = 1030
    # smart payment (billing/prepay): balance alarms, credit disconnection and reconnection
    PREPAY_FIRST_ALARM = 1040  # the balance fell below the first alarm balance
    PREPAY_SECOND_ALARM = 1041  # ... below the second alarm balance
    PREPAY_DISCONNECT = 1042  # below the disconnect balance: a disconnect was asked (or held)
    PREPAY_RECONNECT = 1043  # a payment brought the balance to the reconnect balance
    PREPAY_PAYMENT_REFUSED = 1044  # a payment refused (above the credit cap, unknown account)
    PREPAY_EMERGENCY_CREDIT = 1045  # the customer took the emergency credit


class Event(BaseModel):
    """One event. `key` identifies it: (origin, meter, code, time) — the time the event
    happened (the meter's clock for a meter event), not the time it was received."""

    model_config = ConfigDict(frozen=True)

    origin: EventOrigin
    meter_id: str | None = Field(description="None for an event of a channel or the head-end")
    channel_id: str | None = None
    code: int = Field(ge=0)
    name: str = Field(description="short stable name, e.g. power_failure, collection_failed")
    text: str = Field(description="what a person reads")
    time: datetime = Field(description="when it happened (meter time for meter events)")
    received_at: datetime
    source: str = Field(
        default="",
        description="where it came from: the log's OBIS code, 'push', or the plan/run name",
    )
    cause: str | None = Field(default=None, description="for head-end events: the error kind")

    @classmethod
    def of_meter(cls, event: MeterEvent, *, channel_id: str | None, received_at: datetime) -> Event:
        """A meter's event (read from its log or pushed) as stored: one key for both."""
        return cls(
            origin=EventOrigin.METER,
            meter_id=event.meter_id,
            channel_id=channel_id,
            code=event.code,
            name=event.name,
            text=event.text,
            time=event.time,
            received_at=received_at,
            source=event.log,
        )

    @property
    def key(self) -> str:
        """Stable identity of the event (also its id in published messages)."""
        text = f"{self.origin}|{self.meter_id or ''}|{self.channel_id or ''}|{self.code}|"
        # the instant, not the offset it was given in: an event read back from the store (UTC)
        # or reported by a meter in another offset keeps its key
        when = self.time if self.time.tzinfo is not None else self.time.replace(tzinfo=UTC)
        text += when.astimezone(UTC).isoformat()
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

"""Remote monitoring: meter events (DLMS event logs, pushed notifications) and head-end events."""

from headend.events.model import Event, EventOrigin, HeadendEvent

__all__ = ["Event", "EventOrigin", "HeadendEvent"]

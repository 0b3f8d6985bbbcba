"""What the forwarder needs of a sink, and the one error a sink raises when it cannot deliver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from headend.store.base import OutboxEntry


class SinkUnavailable(Exception):
    """A batch was not delivered (the whole batch counts as not delivered: it is sent again).

    `reason` says why in words a person acts on (refused, wrong password, timed out, HTTP status)
    and never carries a secret."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"{sink}: {reason}")


class Sink(Protocol):
    """A destination with its own outbox cursor named `name`."""

    @property
    def name(self) -> str: ...

    @property
    def batch_size(self) -> int:
        """Entries per delivery (the forwarder fetches this many at a time)."""
        ...

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        """Deliver the entries in order, returning only once the sink has accepted all of them;
        raise `SinkUnavailable` otherwise. Sending one again must be harmless."""
        ...

    async def close(self) -> None: ...

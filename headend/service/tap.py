"""A store front that lets the service watch the readings going into the store.

The clock check needs the clock values a run reads, and on-demand requests answer with the
readings they obtained; both watch the stream of saved batches instead of querying the store
afterwards (one query per meter would cost more than the run). Observers run after the store
accepted the batch and must be cheap and never raise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from drivers.contract import Reading
from headend.store.base import SaveResult, Store

Observer = Callable[[Sequence[Reading]], None]


class ReadingTap:
    """`save_batch`/`save_readings` to the store, then to every registered observer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._observers: dict[int, Observer] = {}
        self._next = 0

    @property
    def path(self) -> Path | None:
        # the Saver spools unsaved readings beside a file database
        path = getattr(self.store, "path", None)
        return path if isinstance(path, Path) else None

    def watch(self, observer: Observer) -> int:
        self._next += 1
        self._observers[self._next] = observer
        return self._next

    def unwatch(self, token: int) -> None:
        self._observers.pop(token, None)

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        result = await self.store.save_batch(readings)
        for observer in list(self._observers.values()):
            observer(readings)
        return result

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        return (await self.save_batch(readings)).new

"""Group commit: writes that queue up while the store is busy go together into its next
transaction.

A fleet read saves each meter's readings as they come, hundreds of batches a second; one
transaction each costs more in BEGIN/COMMIT and thread hand-offs than the rows themselves. A
`WriteQueue` hands every item that arrived during the previous write to one `write_many` call,
and each caller still gets its own result. A group that fails is written again item by item, so
an item's failure stays its own, as if it had been written alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _retrieve(done: asyncio.Future[Any]) -> None:
    # a caller cancelled while its write went on no longer awaits the outcome: fetch it here
    if not done.cancelled():
        done.exception()


class WriteQueue(Generic[T, R]):
    """Items submitted while a write runs are written together by `write_many`, which returns
    one result per item, in order (and is one transaction)."""

    def __init__(self, write_many: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._write_many = write_many
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write `item` (with whatever else is queued); its result or its error. Shielded: a
        cancelled caller leaves its write to complete (or fail) on its own."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)
        self._pending.append((item, done))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._pending:
                group, self._pending = self._pending, []
                await self._write(group)
        finally:
            self._writer = None
            # only when the writer itself was cancelled (the loop shutting down)
            for _, done in group + self._pending:
                _fail(done, RuntimeError("the store's writer stopped"))
            self._pending = []

    async def _write(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write_many([item for item, _ in group])
        except Exception as err:
            if len(group) == 1:
                _fail(group[0][1], err)
                return
            for item, done in group:
                try:
                    (result,) = await self._write_many([item])
                except Exception as own:
                    _fail(done, own)
                else:
                    _succeed(done, result)
            return
        for (_, done), result in zip(group, results, strict=True):
            _succeed(done, result)


def _succeed(done: asyncio.Future[R], result: R) -> None:
    if not done.done():
        done.set_result(result)


def _fail(done: asyncio.Future[R], error: BaseException) -> None:
    if not done.done():
        done.set_exception(error)

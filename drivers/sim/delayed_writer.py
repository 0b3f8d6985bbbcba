"""A StreamWriter stand-in that holds each reply back by a fixed delay (the simulators' meter
response time on HDLC lines), on the event loop's timers, never a blocking sleep."""

from __future__ import annotations

import asyncio
from collections import deque


class DelayedWriter:
    """A StreamWriter stand-in that writes each chunk `delay_s` after it is given, in order,
    on the loop's timers. Closing waits for the replies already given, as a meter would."""

    def __init__(self, writer: asyncio.StreamWriter, delay_s: float) -> None:
        self._writer = writer
        self._delay_s = delay_s
        self._due: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._close_when_sent = False

    def write(self, data: bytes) -> None:
        if self._writer.is_closing() or self._close_when_sent:
            return
        loop = asyncio.get_running_loop()
        self._due.append((loop.time() + self._delay_s, data))
        if self._timer is None:
            self._timer = loop.call_at(self._due[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._writer.is_closing():
            self._due.clear()
            return
        loop = asyncio.get_running_loop()
        while self._due and self._due[0][0] <= loop.time():
            self._writer.write(self._due.popleft()[1])
        if self._due:
            self._timer = loop.call_at(self._due[0][0], self._flush)
        elif self._close_when_sent:
            self._writer.close()

    async def drain(self) -> None:
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        if self._due and not self._writer.is_closing():
            self._close_when_sent = True
        else:
            self._writer.close()

    async def wait_closed(self) -> None:
        try:
            await self._writer.wait_closed()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._due.clear()

"""The head-end's DLMS push listener: meters' event pushes (DataNotification over the wrapper).

`PushListener` is an asyncio TCP server. A meter connects, sends one or more IEC 62056-47
wrapper frames, each carrying a DataNotification with the event push body of
drivers.dlms.push (logical device name, event code, event time), and closes. Each push becomes
a `drivers.contract.MeterEvent` (log "push") handed to the async `on_event` callback, which
stores it; the event has the code and meter time of the entry the meter logged, so a later read
of the log gives the same event key and the store keeps it once.

The meter is identified by its logical device name: by default the name less its 3-letter
manufacturer flag (IDIS names a device FLAG + serial; the simulator's "SIM" + meter id), or by
an `identify(name, wrapper source wPort, peer host)` callable that returns the meter id, or
None for a device the head-end does not know (its push is refused).

Refused, with one log line naming the peer and why, after which that connection is closed and
the listener serves on: a frame that is not a wrapper frame, a frame longer than `max_apdu`
(frames are bounded, never buffered beyond that), an APDU that is no plain DataNotification of
the event push, a ciphered push (general-glo-ciphering and the like: the listener does not hold
the meters' keys, so it refuses those by name), an unknown device. A connection idle longer
than `idle_timeout_s` is closed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from drivers.contract import MeterEvent
from drivers.dlms import push
from drivers.dlms.events import meter_event
from drivers.dlms.wrapper import WrapperDecoder, WrapperFrame
from drivers.errors import MalformedFrame

LOG = logging.getLogger(__name__)

PUSH_LOG = "push"
DEFAULT_MAX_APDU = 1024  # an event push is ~60 bytes; nothing legitimate comes near this
READ_CHUNK = 4096

OnEvent = Callable[[MeterEvent], Awaitable[None]]
Identify = Callable[[bytes, int, str], str | None]


def meter_by_flagged_name(name: bytes, _source: int, _peer: str) -> str | None:
    """The meter id in an IDIS logical device name: what follows the 3-letter flag."""
    serial = name[3:]
    if not serial:
        return None
    try:
        return serial.decode("ascii")
    except UnicodeDecodeError:
        return None


class Refused(Exception):
    """A push that is not accepted; the text says why (logged with the peer)."""


class PushListener:
    """TCP server for meters' event pushes; an async context manager (`start`, `close`)."""

    def __init__(
        self,
        on_event: OnEvent,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        identify: Identify = meter_by_flagged_name,
        max_apdu: int = DEFAULT_MAX_APDU,
        idle_timeout_s: float = 30.0,
    ) -> None:
        self.on_event = on_event
        self.host = host
        self.port = port
        self.identify = identify
        self.max_apdu = max_apdu
        self.idle_timeout_s = idle_timeout_s
        self.received = 0  # events handed to on_event
        self.refused = 0  # connections closed for a refused push
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; returns the port bound (a free one when `port` was 0)."""
        self._server = await asyncio.start_server(self._connected, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        LOG.info("push listener on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "unknown peer"
        try:
            await self._serve(reader, peer, str(peername[0]) if peername else "")
        except Refused as why:
            self.refused += 1
            LOG.warning("push from %s refused: %s; connection closed", peer, why)
        except TimeoutError:
            LOG.info("push connection from %s idle for %.0f s; closed", peer, self.idle_timeout_s)
        except ConnectionError as exc:
            LOG.info("push connection from %s lost: %s", peer, exc)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, peer: str, host: str) -> None:
        decoder = WrapperDecoder(self.max_apdu)
        while True:
            async with asyncio.timeout(self.idle_timeout_s):
                data = await reader.read(READ_CHUNK)
            if not data:
                if decoder.pending:
                    raise Refused(f"connection closed inside a frame ({decoder.pending} bytes)")
                return
            decoder.feed(data)
            while True:
                try:
                    frame = decoder.next_frame()
                except MalformedFrame as err:
                    raise Refused(err.cause) from None
                if frame is None:
                    break
                event = self._event(frame, host)
                self.received += 1
                try:
                    await self.on_event(event)
                except Exception:
                    # the store's trouble, not the meter's: keep the connection and say so
                    LOG.exception("push from %s: handling %s failed", peer, event)

    def _event(self, frame: WrapperFrame, host: str) -> MeterEvent:
        apdu = frame.apdu
        if apdu and apdu[0] in push.CIPHERED_TAGS:
            raise Refused(
                f"ciphered push (APDU tag 0x{apdu[0]:02X}) from wPort {frame.source}: "
                "only plain DataNotification pushes are accepted"
            )
        try:
            notification = push.parse_event_push(apdu)
        except MalformedFrame as err:
            raise Refused(err.cause) from None
        meter_id = self.identify(notification.device_name, frame.source, host)
        if meter_id is None:
            raise Refused(f"unknown device {notification.device_name!r}")
        return meter_event(meter_id, notification.code, notification.time, PUSH_LOG)

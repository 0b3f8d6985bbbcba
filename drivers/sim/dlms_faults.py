"""Misbehaving simulated DLMS meters, for failure tests: the fault settings of one meter, a
handler that closes the connection after N requests, and a wrapper connection that never answers
or answers line noise."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

from drivers.dlms.link import ApduHandler, ServerAddress


@dataclass(frozen=True, slots=True)
class DlmsFaults:
    """Misbehaviour of one meter, for failure tests.

    close_after: answer this many requests, then close the connection on the next one. Such a
        meter does not grant multiple-references (GET-with-list) unless `lists` is set, so that
        N counts requests of one attribute each, whichever client reads it (a list of ten
        attributes would otherwise get a read past the N meant to cut it).
    lists: grant multiple-references to a meter with `close_after` too (N then counts lists).
    silent: accept the connection and the requests, never answer.
    garbage: answer every request with bytes that are no valid frame (wrapper) or no valid APDU
        inside valid frames (HDLC, where the line is shared with well-behaved meters).
    refuse_lists: grant multiple-references but answer every GET-with-list request with an
        exception-response (service-not-supported), as some meters' stacks do.
    """

    close_after: int | None = None
    silent: bool = False
    garbage: bool = False
    refuse_lists: bool = False
    lists: bool = False


GARBAGE = b"\x7e\xa0\x00\xde\xad\xbe\xef\x00\x01\xff\xff\xff\xff"


def closing_after(handle: ApduHandler, limit: int | None, close: Callable[[], None]) -> ApduHandler:
    if limit is None:
        return handle
    count = 0

    def handler(address: ServerAddress, apdu: bytes) -> bytes | None:
        nonlocal count
        count += 1
        if count > limit:
            close()
            return None
        return handle(address, apdu)

    return handler


class MisbehavingConnection(asyncio.Protocol):
    """A wrapper connection of a faulty meter: silent, or answering line noise."""

    def __init__(
        self, faults: DlmsFaults, on_closed: Callable[[MisbehavingConnection], None]
    ) -> None:
        self.faults = faults
        self.on_closed = on_closed
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.faults.garbage and self.transport is not None:
            self.transport.write(GARBAGE + os.urandom(8))

    def close(self, *, abort: bool = False) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_closed(self)

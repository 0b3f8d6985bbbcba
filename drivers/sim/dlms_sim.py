"""The DLMS meter simulator: simulated meters served over the IEC 62056-47 wrapper (one TCP port
per meter, or many meters on one port told apart by the loopback address dialled, see
`drivers.sim.by_address`) and over HDLC (a concentrator's transparent channel on TCP, or a
serial line on a pty).

Each meter is a `SimulatedMeter` whose COSEM objects (`MeterObjects`, drivers.sim.cosem) are
served by the sans-IO `CosemServer` (drivers.dlms.server); the simulator only does I/O. Per
meter it keeps a few references (its COSEM device is built on first use; with
`add_deferred_meter` even the `SimulatedMeter` is), so one process can serve thousands. Failure
knobs for tests are `DlmsFaults`: a meter that closes the connection after N requests, one that
never answers, one that answers garbage.

Response delay: real meters answer each request after 10-100+ ms (processing plus the modem's
round trip). `response_delay_s` (default 0) holds every reply back that long, on the event loop's
timers (never a blocking sleep), replies keeping their order; it applies to connections and lines
opened after it is set. On the wrapper each connection is a plain asyncio Protocol
(`WrapperServerProtocol`), which costs the simulator less CPU per request than streams.

HDLC addressing: meter i gets physical address 16 + i (order of `add_meter`) unless given one;
its management logical device is logical address 1. On the wrapper the destination wPort is the
logical device (1).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast

from drivers.dlms.hdlc.link import serve_hdlc
from drivers.dlms.link import ServerAddress
from drivers.dlms.server import CosemDevice, CosemServer, DlmsMeterSecrets
from drivers.dlms.wrapper import WrapperServerProtocol
from drivers.sim.by_address import AddressDispatch
from drivers.sim.clock import SimClock
from drivers.sim.cosem import MeterObjects
from drivers.sim.delayed_writer import DelayedWriter
from drivers.sim.dlms_faults import GARBAGE, DlmsFaults, MisbehavingConnection, closing_after
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import PtyPair, fd_streams, open_pty

__all__ = ["DlmsFaults", "DlmsMeterSecrets", "DlmsSimulator"]

LOGICAL_DEVICE = 1
FIRST_PHYSICAL = 16
MAX_PHYSICAL = 0x3FFF
NO_PHYSICAL = -1  # a meter added past the HDLC address space: served on the wrapper only
HDLC_MAX_INFO = 128
CLOSE_GRACE_S = 2.0
WRAPPER_PORT = 4059  # IANA's port for DLMS/COSEM over TCP
WIDE_BACKLOG = 4096  # a head-end dialling thousands of meters at once must not see SYNs dropped


class _Entry:
    __slots__ = (
        "_build",
        "_meter",
        "device",
        "faults",
        "meter_id",
        "physical",
        "secrets",
        "withheld",
    )

    def __init__(
        self,
        meter: SimulatedMeter | tuple[str, Callable[[], SimulatedMeter]],
        secrets: DlmsMeterSecrets | None,
        faults: DlmsFaults | None,
        physical: int,
        withheld: frozenset[str] = frozenset(),
    ) -> None:
        self._meter: SimulatedMeter | None
        self._build: Callable[[], SimulatedMeter] | None
        if isinstance(meter, SimulatedMeter):
            self.meter_id, self._meter, self._build = meter.meter_id, meter, None
        else:
            (self.meter_id, self._build), self._meter = meter, None
        self.secrets = secrets
        self.faults = faults
        self.physical = physical
        self.withheld = withheld
        self.device: CosemDevice | None = None

    @property
    def meter(self) -> SimulatedMeter:
        if self._meter is None:
            assert self._build is not None
            self._meter, self._build = self._build(), None
        return self._meter

    def cosem(self) -> CosemDevice:
        if self.device is None:
            secrets = self.secrets or DlmsMeterSecrets.for_meter(self.meter_id)
            withheld = self.withheld
            if self.faults and self.faults.close_after is not None and not self.faults.lists:
                withheld = withheld | {"multiple_references"}
            self.device = CosemDevice(MeterObjects(self.meter), secrets, withheld)
            self.device.refuse_lists = bool(self.faults and self.faults.refuse_lists)
        return self.device


class DlmsSimulator:
    """Serves simulated DLMS meters; an async context manager, `close()` stops everything."""

    def __init__(
        self, clock: SimClock, host: str = "127.0.0.1", *, response_delay_s: float = 0.0
    ) -> None:
        if response_delay_s < 0:
            raise ValueError("response_delay_s must be >= 0")
        self.clock = clock
        self.host = host
        self.response_delay_s = response_delay_s
        self._connections: set[WrapperServerProtocol | MisbehavingConnection] = set()
        self._entries: dict[str, _Entry] = {}
        self._by_physical: dict[int, _Entry] = {}
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._line_tasks: set[asyncio.Task[None]] = set()
        self._ptys: list[PtyPair] = []
        self.refused = 0  # connections refused by `serve_wrapper_by_address`

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the fleet ---------------------------------------------------------------------------

    def add_meter(
        self,
        meter: SimulatedMeter,
        secrets: DlmsMeterSecrets | None = None,
        *,
        faults: DlmsFaults | None = None,
        physical_address: int | None = None,
        withhold: Collection[str] = (),
    ) -> None:
        """Add a meter; without `secrets` it gets demo secrets with its own system title.

        A meter offers GET, SET, ACTION, selective access, block transfer with GET and
        multiple references (GET-with-list); `withhold` names conformance bits it does not
        grant (dlms-cosem's field names: "multiple_references", "selective_access",
        "block_transfer_with_get_or_read"), like a meter with a smaller DLMS stack."""
        self._add(meter, secrets, faults, physical_address, withhold)

    def add_deferred_meter(
        self,
        meter_id: str,
        build: Callable[[], SimulatedMeter],
        secrets: DlmsMeterSecrets | None = None,
        *,
        faults: DlmsFaults | None = None,
        physical_address: int | None = None,
        withhold: Collection[str] = (),
    ) -> None:
        """Like `add_meter`, but the meter is built by `build()` when first used (dialled,
        read, or asked for by `meter()`): a generated fleet of 100,000 meters then starts in
        seconds, and integrates only the history of the meters actually read."""
        self._add((meter_id, build), secrets, faults, physical_address, withhold)

    def _add(
        self,
        meter: SimulatedMeter | tuple[str, Callable[[], SimulatedMeter]],
        secrets: DlmsMeterSecrets | None,
        faults: DlmsFaults | None,
        physical_address: int | None,
        withhold: Collection[str],
    ) -> None:
        meter_id = meter.meter_id if isinstance(meter, SimulatedMeter) else meter[0]
        if meter_id in self._entries:
            raise ValueError(f"meter {meter_id} is already simulated")
        physical = (
            physical_address
            if physical_address is not None
            else FIRST_PHYSICAL + len(self._entries)
        )
        if physical_address is None and physical > MAX_PHYSICAL:
            physical = NO_PHYSICAL  # more meters than HDLC can address: wrapper meters only
        elif not 0 <= physical <= MAX_PHYSICAL:
            raise ValueError(f"HDLC physical address {physical} is outside 0..{MAX_PHYSICAL}")
        if physical in self._by_physical:
            raise ValueError(f"HDLC physical address {physical} is already used")
        entry = _Entry(meter, secrets, faults, physical, frozenset(withhold))
        self._entries[meter_id] = entry
        if physical != NO_PHYSICAL:
            self._by_physical[physical] = entry

    def meter(self, meter_id: str) -> SimulatedMeter:
        return self._entry(meter_id).meter

    def requests(self, meter_id: str) -> Counter[str]:
        """xDLMS requests the meter served so far, by kind: "get", "get-next", "get-list",
        "set", "action" (association requests are not counted)."""
        return self._entry(meter_id).cosem().requests

    def physical_address(self, meter_id: str) -> int:
        return self._entry(meter_id).physical

    def secrets(self, meter_id: str) -> DlmsMeterSecrets:
        """The secrets a meter uses (its own, or the demo secrets derived for it)."""
        return self._entry(meter_id).cosem().security.secrets

    def _entry(self, meter_id: str) -> _Entry:
        try:
            return self._entries[meter_id]
        except KeyError:
            raise KeyError(f"no simulated meter {meter_id!r}") from None

    # -- wrapper over TCP --------------------------------------------------------------------

    async def serve_wrapper(self, meter_id: str, port: int = 0) -> int:
        """Listen for one meter on a TCP port (0 = a free one); returns the port."""
        entry = self._entry(meter_id)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: self._wrapper_protocol(entry), self.host, port)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def serve_wrapper_by_address(
        self, mapping: Mapping[str, str], host: str = "0.0.0.0", port: int = WRAPPER_PORT
    ) -> int:
        """Serve many wrapper meters on ONE listening socket: `mapping` maps a loopback address
        (127.x.y.z) to the meter dialled there. Listens on `host` (the wildcard address by
        default, which on Linux accepts every 127/8 address) and tells the meter by the accepted
        socket's local address; a peer off loopback, or an address with no meter, is closed at
        once (`refused` counts them). Returns the port bound (`port=0`: a free one)."""
        entries = {address: self._entry(meter_id) for address, meter_id in mapping.items()}

        def route(local: str) -> asyncio.Protocol | None:
            entry = entries.get(local)
            return self._wrapper_protocol(entry) if entry is not None else None

        def refused(_why: str) -> None:
            self.refused += 1

        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: AddressDispatch(route, on_refused=refused), host, port, backlog=WIDE_BACKLOG
        )
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    def _wrapper_protocol(self, entry: _Entry) -> asyncio.Protocol:
        """The server side of one wrapper connection to the meter of `entry`."""
        faults = entry.faults or DlmsFaults()
        if faults.silent or faults.garbage:
            misbehaving = MisbehavingConnection(faults, self._connections.discard)
            self._connections.add(misbehaving)
            return misbehaving
        device = entry.cosem()
        server = CosemServer(lambda a: device if a.logical == LOGICAL_DEVICE else None)
        protocol = WrapperServerProtocol(
            server.handle,
            server.disconnect,
            delay_s=self.response_delay_s,
            on_closed=self._connections.discard,
        )
        protocol.handler = closing_after(server.handle, faults.close_after, protocol.close)
        self._connections.add(protocol)
        return protocol

    # -- HDLC --------------------------------------------------------------------------------

    async def serve_hdlc_tcp(self, meter_ids: Sequence[str], port: int = 0) -> int:
        """One TCP port carrying HDLC for several meters (a concentrator's transparent channel)."""
        line = self._line(meter_ids)

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_line(line, reader, self._delayed(writer))

        return await self._listen(connected, port)

    async def serve_hdlc_pty(self, meter_ids: Sequence[str]) -> str:
        """Serve HDLC for several meters on a pseudo-terminal; returns the serial port path."""
        line = self._line(meter_ids)
        pair = open_pty()
        self._ptys.append(pair)
        reader, writer = await fd_streams(pair.master_fd)
        self._writers.add(writer)
        self._spawn(self._serve_line(line, reader, self._delayed(writer)))
        return pair.slave_path

    def _delayed(self, writer: asyncio.StreamWriter) -> asyncio.StreamWriter:
        if self.response_delay_s <= 0:
            return writer
        # duck-typed: serve_hdlc only writes, drains and closes
        return cast(asyncio.StreamWriter, DelayedWriter(writer, self.response_delay_s))

    def _line(self, meter_ids: Sequence[str]) -> dict[int, _Entry]:
        entries = [self._entry(m) for m in meter_ids]
        for entry in entries:
            if entry.physical == NO_PHYSICAL:
                raise ValueError(f"meter {entry.meter_id} has no HDLC address (give it one)")
        return {e.physical: e for e in entries}

    async def _serve_line(
        self,
        line: dict[int, _Entry],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        def find(address: ServerAddress) -> _Entry | None:
            if address.logical != LOGICAL_DEVICE or address.physical is None:
                return None
            return line.get(address.physical)

        def resolve(address: ServerAddress) -> CosemDevice | None:
            entry = find(address)
            return entry.cosem() if entry is not None else None

        def serves(address: ServerAddress) -> bool:
            entry = find(address)
            return entry is not None and not (entry.faults and entry.faults.silent)

        server = CosemServer(resolve)
        counts: dict[int, int] = {}

        def handler(address: ServerAddress, apdu: bytes) -> bytes | None:
            entry = find(address)
            faults = entry.faults if entry is not None else None
            if entry is None or faults is None:
                return server.handle(address, apdu)
            if faults.garbage:
                return GARBAGE
            counts[entry.physical] = counts.get(entry.physical, 0) + 1
            if faults.close_after is not None and counts[entry.physical] > faults.close_after:
                writer.close()
                return None
            return server.handle(address, apdu)

        await serve_hdlc(
            reader, writer, handler, server.disconnect, serves=serves, max_info=HDLC_MAX_INFO
        )

    # -- plumbing ----------------------------------------------------------------------------

    async def _listen(
        self,
        connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        port: int,
    ) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await connected(reader, writer)
            except asyncio.CancelledError:
                # Only close() cancels these; asyncio 3.11 streams would log a cancelled
                # connection task as an unhandled error, so it ends quietly instead.
                pass
            finally:
                self._writers.discard(writer)
                if task is not None:
                    self._tasks.discard(task)
                writer.close()

        server = await asyncio.start_server(tracked, self.host, port)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._line_tasks.add(task)
        task.add_done_callback(self._line_tasks.discard)

    async def close(self) -> None:
        """Stop listening, drop every connection and line, close the ptys."""
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.close(abort=True)
        for writer in list(self._writers):
            writer.close()
        # A pty's read side does not see the writer close: its loop is cancelled instead.
        lines = list(self._line_tasks)
        for line in lines:
            line.cancel()
        await asyncio.gather(*lines, return_exceptions=True)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if tasks:
            # Closed writers end their loops at once; cancel only what is stuck.
            _done, stuck = await asyncio.wait(tasks, timeout=CLOSE_GRACE_S)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for pair in self._ptys:
            pair.close()
        self._servers.clear()
        self._writers.clear()
        self._connections.clear()
        self._ptys.clear()

"""A Modbus channel: one pymodbus async client shared by every unit on a port or gateway.

An RS-485 bus (or an RTU gateway in front of one) is half-duplex: one lock per channel serialises
the requests of all sessions on it, and after each exchange the bus stays silent for 3.5
characters plus the configured turnaround before the next request goes out, counted from the
last byte received and waited with `timing.sleep_until` (sub-millisecond, never early).

What pymodbus 3.16 does by itself, and what is added here:
- its response timeout is per attempt, with retries, and a reply with a bad CRC or from another
  unit is dropped silently until that timeout. We run it with `retries=0` and a very long own
  timeout, and put our own deadline around the whole exchange (`timeout_s` covers the whole
  reply, never an idle timer);
- `trace_packet` shows us every received buffer; `wire.inspect_reply` names a bad CRC, a reply
  from another unit or to another function at once (`MalformedFrame` / `ProtocolError`);
- a lost connection (`trace_connect(False)`) fails the exchange at once with `ChannelDown`;
- pymodbus exceptions and exception responses become `drivers.errors` types naming meter + OBIS.
Buses are shared per (event loop, channel) through `acquire_bus` / `ModbusBus.release`.

RTU on a serial port stays on pymodbus: on the paced 9,600-baud bench its serial path costs
~0.3 ms per exchange (it writes on the next loop turn, one read per reply), against ~1 ms each for
the two millisecond-rounded `asyncio.sleep`s that `timing.sleep_until` replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from drivers.errors import (
    ChannelDown,
    CommandRejected,
    DriverError,
    MalformedFrame,
    ObjectUnavailable,
    ProtocolError,
    Timeout,
    Unsupported,
)
from drivers.modbus.settings import ModbusFraming, ModbusSettings
from drivers.modbus.wire import ReplyFault, Verdict, inspect_reply
from drivers.transport.settings import SerialLink
from drivers.transport.timing import sleep_until

# pymodbus logs every dropped frame at ERROR; we report those as typed errors instead.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

_INTERNAL_TIMEOUT_S = 3600.0  # pymodbus's own per-attempt timeout: ours always fires first

_EXCEPTION_CODES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def _exception_error(code: int, *, write: bool) -> type[DriverError]:
    if write:
        return CommandRejected
    if code == 1:
        return Unsupported
    if code == 2:
        return ObjectUnavailable
    if code == 11:
        return Timeout  # the gateway says the unit behind it is silent
    return ProtocolError


class ModbusBus:
    """One channel. Use `read`/`write`; every failure is a typed `DriverError`."""

    def __init__(self, settings: ModbusSettings, key: str) -> None:
        self.key = key
        self.name = settings.link.describe()
        self._rtu = settings.framing is ModbusFraming.RTU
        self._silence_s = settings.silence_s
        self._turnaround_s = settings.turnaround_s
        self._connect_timeout_s = settings.connect_timeout_s
        self._lock = asyncio.Lock()
        self._last_end = 0.0
        self._last_rx = 0.0
        self._users = 0
        self._closed = False
        self._expect: tuple[int, int] | None = None
        self._verdict: asyncio.Future[DriverError] | None = None
        self._client = self._make_client(settings)
        self.requests = 0  # exchanges started (for benches and tests)

    def _make_client(self, settings: ModbusSettings) -> Any:
        common: dict[str, Any] = {
            "timeout": _INTERNAL_TIMEOUT_S,
            "retries": 0,
            "reconnect_delay": 0,
            "trace_packet": self._trace_packet,
            "trace_connect": self._trace_connect,
            "name": self.name,
        }
        link = settings.link
        if isinstance(link, SerialLink):
            return AsyncModbusSerialClient(
                link.device,
                framer=FramerType.RTU,
                baudrate=link.baud,
                bytesize=link.bytesize,
                parity=link.parity,
                stopbits=link.stopbits,
                **common,
            )
        framer = FramerType.RTU if self._rtu else FramerType.SOCKET
        return AsyncModbusTcpClient(link.host, port=link.port, framer=framer, **common)

    # -- pymodbus hooks (called from its protocol callbacks) --------------------------------

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            # The inter-frame silence runs from the last byte on the line, not from when we
            # got round to processing the reply.
            self._last_rx = asyncio.get_running_loop().time()
        if not sending and self._expect is not None:
            unit, function = self._expect
            verdict = inspect_reply(data, rtu=self._rtu, unit=unit, function=function)
            if verdict is not None:
                self._fail(_verdict_error(verdict))
        return data

    def _trace_connect(self, connected: bool) -> None:
        if not connected:
            self._fail(ChannelDown(f"{self.name}: connection lost"))

    def _fail(self, error: DriverError) -> None:
        if self._verdict is not None and not self._verdict.done():
            self._verdict.set_result(error)

    # -- sharing -----------------------------------------------------------------------------

    def acquire(self) -> ModbusBus:
        self._users += 1
        return self

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _BUSES.pop(self.key, None)
        async with self._lock:
            self._client.close()

    # -- exchanges ---------------------------------------------------------------------------

    async def read(
        self, unit: int, function: int, address: int, count: int, *, timeout: float
    ) -> list[int]:
        """Registers `address..address+count-1` of one unit (function 3 or 4)."""
        if function == 3:
            call = self._client.read_holding_registers
        elif function == 4:
            call = self._client.read_input_registers
        else:
            raise Unsupported(f"read with function {function}")
        reply = await self._exchange(
            unit,
            function,
            lambda: call(address, count=count, device_id=unit),
            timeout=timeout,
            write=False,
        )
        registers = list(getattr(reply, "registers", []))
        if len(registers) != count:
            raise MalformedFrame(f"asked {count} registers at {address}, got {len(registers)}")
        return registers

    async def write(
        self, unit: int, function: int, address: int, values: list[int], *, timeout: float
    ) -> None:
        """Write registers with function 6 (one register) or 16."""
        if function == 6:
            await self._exchange(
                unit,
                6,
                lambda: self._client.write_register(address, values[0], device_id=unit),
                timeout=timeout,
                write=True,
            )
        else:
            await self._exchange(
                unit,
                16,
                lambda: self._client.write_registers(address, values, device_id=unit),
                timeout=timeout,
                write=True,
            )

    async def _exchange(
        self,
        unit: int,
        function: int,
        call: Callable[[], Awaitable[Any]],
        *,
        timeout: float,
        write: bool,
    ) -> Any:
        if self._closed:
            raise ChannelDown(f"{self.name}: bus closed")
        async with self._lock:
            await self._ensure_connected()
            loop = asyncio.get_running_loop()
            # One absolute deadline from the last byte on the line; `sleep_until` wakes within
            # a fraction of a millisecond of it (asyncio.sleep rounds up to whole ms).
            await sleep_until(self._last_end + self._silence_s + self._turnaround_s)
            verdict: asyncio.Future[DriverError] = loop.create_future()
            self._verdict = verdict
            self._expect = (unit, function)
            self.requests += 1
            task = asyncio.ensure_future(call())
            try:
                done, _ = await asyncio.wait(
                    {task, verdict}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                self._expect = None
                self._verdict = None
                replied = task.done() and not task.cancelled() and task.exception() is None
                self._last_end = self._last_rx if replied else loop.time()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            if task in done and task.exception() is None:
                reply = task.result()
            elif verdict.done():
                raise verdict.result()
            elif task in done:
                raise self._map_exception(task.exception())
            else:
                raise Timeout(f"{self.name}: unit {unit}: no reply within {timeout:g} s")
        if reply is None:
            raise ProtocolError(f"{self.name}: unit {unit}: empty reply")
        if reply.isError():
            code = int(getattr(reply, "exception_code", 0))
            text = _EXCEPTION_CODES.get(code, f"code {code}")
            cls = _exception_error(code, write=write)
            raise cls(f"unit {unit} answered exception {code} ({text})")
        return reply

    async def _ensure_connected(self) -> None:
        if self._client.connected:
            return
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ok = await self._client.connect()
        except TimeoutError:
            raise Timeout(f"{self.name}: connect timed out") from None
        except (OSError, ModbusException) as exc:
            raise ChannelDown(f"{self.name}: cannot connect: {exc}") from exc
        if not ok:
            raise ChannelDown(f"{self.name}: cannot connect")

    def _map_exception(self, exc: BaseException | None) -> DriverError:
        if isinstance(exc, DriverError):
            return exc
        if isinstance(exc, ConnectionException):
            return ChannelDown(f"{self.name}: {exc}")
        if isinstance(exc, ModbusIOException):
            return ProtocolError(f"{self.name}: {exc}")
        if isinstance(exc, (ModbusException, ValueError, struct.error)):
            return MalformedFrame(f"{self.name}: {exc}")
        if isinstance(exc, OSError):
            return ChannelDown(f"{self.name}: {exc}")
        return ProtocolError(f"{self.name}: unexpected failure: {exc!r}")


def _verdict_error(verdict: Verdict) -> DriverError:
    if verdict.fault is ReplyFault.BAD_CRC:
        return MalformedFrame(f"reply with {verdict.detail}")
    return ProtocolError(f"{verdict.fault.value}: {verdict.detail}")


_BUSES: dict[str, ModbusBus] = {}


def acquire_bus(settings: ModbusSettings) -> ModbusBus:
    """The shared bus for this channel in the running event loop (created on first use)."""
    key = f"{id(asyncio.get_running_loop())}:{settings.channel_key()}"
    bus = _BUSES.get(key)
    if bus is None or bus._closed:
        bus = ModbusBus(settings, key)
        _BUSES[key] = bus
    return bus.acquire()

"""A simulated DL/T 645-2007 RS-485 line: several `SimulatedMeter`s answering by address.

Serves over TCP (`start_tcp`) or on a pty master (`serve_pty`), with the `FE` preamble on replies
and optional pacing to a baud rate (8E1 character time) and a per-reply delay
(`response_delay_s`, a meter's processing time). Answers read (0x11, with follow-up frames
when the data exceeds `max_data`), read follow-up (0x12), read address (0x13, only when one meter
is on the line, as a real line would garble several answers), time broadcast (0x08, corrections
of at most `max_clock_adjust` as real meters do) and relay control (0x1C, plain form: checks the
password and the validity time; trip -> `physics.disconnect()`, close -> `physics.reconnect()`).

History, as the meter captured it at its billing midnights (`SimulatedMeter.daily` and
`.monthly`, drivers/sim/billing_log.py) when its `billing_offset` is the line's UTC offset (build
the meter with `billing_offset=line_offset(zone)`):
- daily freezes `05 06 00 nn` (time YYMMDDhhmm), `05 06 01 nn` (forward block: total, tariff
  1..4) and `05 06 02 nn` (reverse block: total, then four zero tariffs), nn = 1..62;
- settlement-day data `00 01 0t nn` (forward, t = 0 total, 1..4) and `00 02 0t nn` (reverse; its
  tariffs zero), nn = 1..12, captured on the 1st at 00:00 local, which `04 00 0B 01` (DDhh) says.
A meter whose billing day is another zone's falls back to its load profile at local midnight
(daily freezes within the profile's depth, settlements likewise): totals only, no tariffs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from drivers.dlt645.bcd import decode_datetime, encode_bcd, encode_datetime
from drivers.dlt645.decoder import FrameDecoder
from drivers.dlt645.frame import (
    BROADCAST_ADDRESS,
    MAX_DATA_LEN,
    Frame,
    Function,
    address_matches,
    address_to_wire,
    encode_frame,
)
from drivers.dlt645.messages import TIME_FIELDS, RelayAction, parse_relay_request, reply_control
from drivers.errors import MalformedFrame
from drivers.sim import physics
from drivers.sim.billing_log import BillingLog, BillingRow
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import fd_streams

ERR_OTHER = 0x01
ERR_NO_DATA = 0x02
ERR_PASSWORD = 0x04
KILO = Decimal(1000)
ENERGY_WRAP = Decimal(1_000_000)  # a XXXXXX.XX kWh register rolls over at 1 000 000 kWh
MAX_FREEZES = 62
MAX_SETTLEMENTS = 12
SETTLEMENT_DAY = "0100"  # DDhh: the 1st at 00:00, when the simulated meters capture


def line_offset(timezone: str = "Asia/Shanghai") -> timedelta:
    """The UTC offset of a line's zone, as a `SimulatedMeter(billing_offset=...)` that freezes
    at local midnight needs it (a zone without daylight saving: the offset is fixed)."""
    return ZoneInfo(timezone).utcoffset(datetime(2000, 1, 1)) or timedelta(0)


Encoder = Callable[[SimulatedMeter, datetime], bytes | None]


def _num(
    obis: str, size: int, decimals: int, *, kilo: bool = False, signed: bool = False
) -> Encoder:
    def encode(meter: SimulatedMeter, local_now: datetime) -> bytes:
        value = meter.value(obis)
        assert isinstance(value, Decimal)
        if kilo:
            value = value / KILO
            if not signed:
                value = value % ENERGY_WRAP
        return encode_bcd(value, size, decimals, signed=signed)

    return encode


def _clock(fields: str) -> Encoder:
    return lambda meter, local_now: encode_datetime(local_now, fields)


class Dlt645Simulator:
    """Meters by nameplate address (12 digits) on one simulated line."""

    def __init__(
        self,
        meters: Mapping[str, SimulatedMeter],
        *,
        password: bytes = b"\x02\x12\x34\x56",
        timezone: str = "Asia/Shanghai",
        max_data: int = MAX_DATA_LEN,
        preamble: bool = True,
        baud: int | None = None,
        max_clock_adjust: timedelta = timedelta(minutes=5),
        response_delay_s: float = 0.0,
    ) -> None:
        if response_delay_s < 0:
            raise ValueError("response_delay_s must be >= 0")
        if not 6 <= max_data <= 255:
            raise ValueError("max_data must be 6..255")
        self.meters = {address_to_wire(a): m for a, m in meters.items()}
        self.password = password
        self.zone = ZoneInfo(timezone)
        self.max_data = max_data
        self.preamble = preamble
        self.char_time = 11 / baud if baud else 0.0  # 8E1: start + 8 + parity + stop
        self.max_clock_adjust = max_clock_adjust
        self.response_delay_s = response_delay_s  # a meter's processing time before it answers
        self.received: deque[Frame] = deque(maxlen=1000)
        self.silent: set[bytes] = set()  # addresses that do not answer (a dead meter)
        self._pending: dict[tuple[bytes, bytes], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._items: dict[int, Encoder] = self._build_items()

    # -- sans-IO core ------------------------------------------------------------------------

    def handle(self, request: Frame) -> Frame | None:
        """The reply to one request frame, or None (broadcast, not for us, silent meter)."""
        self.received.append(request)
        if request.from_meter:
            return None  # another meter's reply on the shared line
        if request.function == Function.TIME_BROADCAST:
            if request.address == address_to_wire(BROADCAST_ADDRESS):
                self._time_broadcast(request.data)
            return None
        matches = [a for a in self.meters if address_matches(request.address, a)]
        if len(matches) != 1 or matches[0] in self.silent:
            return None
        address = matches[0]
        meter = self.meters[address]
        if request.function == Function.READ_ADDRESS:
            return Frame(address, reply_control(request), address)
        if request.function == Function.READ:
            return self._read(address, meter, request)
        if request.function == Function.READ_FOLLOWUP:
            return self._followup(address, request)
        if request.function == Function.RELAY_CONTROL:
            return self._relay(address, meter, request)
        return self._error(address, request, ERR_OTHER)

    def reply_bytes(self, request: Frame) -> bytes:
        reply = self.handle(request)
        return b"" if reply is None else encode_frame(reply, preamble=self.preamble)

    def local_now(self, meter: SimulatedMeter) -> datetime:
        return meter.now().astimezone(self.zone).replace(tzinfo=None)

    def _error(self, address: bytes, request: Frame, err: int) -> Frame:
        return Frame(address, reply_control(request, abnormal=True), bytes([err]))

    def _read(self, address: bytes, meter: SimulatedMeter, request: Frame) -> Frame:
        if len(request.data) < 4:
            return self._error(address, request, ERR_OTHER)
        di_bytes = request.data[:4]
        value = self._value(meter, int.from_bytes(di_bytes, "little"))
        if value is None:
            return self._error(address, request, ERR_NO_DATA)
        room = self.max_data - 4
        if len(value) <= room:
            return Frame(address, reply_control(request), di_bytes + value)
        first, rest = value[:room], value[room:]
        step = self.max_data - 5  # follow-up frames also carry the sequence number
        self._pending[(address, di_bytes)] = [rest[i : i + step] for i in range(0, len(rest), step)]
        return Frame(address, reply_control(request, followup=True), di_bytes + first)

    def _followup(self, address: bytes, request: Frame) -> Frame:
        if len(request.data) != 5:
            return self._error(address, request, ERR_OTHER)
        di_bytes, seq = request.data[:4], request.data[4]
        chunks = self._pending.get((address, di_bytes), [])
        if not 1 <= seq <= len(chunks):
            return self._error(address, request, ERR_NO_DATA)
        more = seq < len(chunks)
        if not more:
            self._pending.pop((address, di_bytes), None)
        control = reply_control(request, followup=more)
        return Frame(address, control, di_bytes + chunks[seq - 1] + bytes([seq]))

    def _relay(self, address: bytes, meter: SimulatedMeter, request: Frame) -> Frame:
        try:
            relay = parse_relay_request(request.data)
        except MalformedFrame:
            return self._error(address, request, ERR_OTHER)
        if relay.password != self.password:
            return self._error(address, request, ERR_PASSWORD)
        if relay.valid_until < self.local_now(meter):
            return self._error(address, request, ERR_OTHER)
        if relay.action == RelayAction.TRIP:
            meter.disconnect()
        elif relay.action in (RelayAction.CLOSE_ALLOWED, RelayAction.CLOSE_DIRECT):
            # A real meter waits for the customer's button after 1B; ours presses it at once.
            meter.reconnect()
        elif relay.action not in (0x2A, 0x2B, 0x3A, 0x3B):  # alarm / keep-power: acknowledged
            return self._error(address, request, ERR_OTHER)
        return Frame(address, reply_control(request))

    def _time_broadcast(self, data: bytes) -> None:
        try:
            local = decode_datetime(data, TIME_FIELDS)
        except MalformedFrame:
            return
        when = local.replace(tzinfo=self.zone).astimezone(UTC)
        for meter in self.meters.values():
            if abs(when - meter.now()) > self.max_clock_adjust:
                continue  # the standard lets a meter refuse large broadcast corrections
            meter.set_time(when)

    # -- data identifiers --------------------------------------------------------------------

    def _build_items(self) -> dict[int, Encoder]:
        items: dict[int, Encoder] = {
            0x00010000: _num(physics.IMPORT_TOTAL, 4, 2, kilo=True),
            0x00020000: _num(physics.EXPORT_TOTAL, 4, 2, kilo=True),
            0x02030000: self._net_power,
            0x04000101: _clock("YYMMDDWW"),
            0x04000102: _clock("hhmmss"),
            0x04000B01: lambda meter, local_now: encode_datetime(datetime(2000, 1, 1), "DDhh"),
        }
        for t, obis in enumerate(physics.IMPORT_TARIFF, start=1):
            items[0x00010000 | t << 8] = _num(obis, 4, 2, kilo=True)
            items[0x00020000 | t << 8] = _zero_energy
        for i in range(3):
            phase = (i + 1) << 8
            items[0x02010000 | phase] = _num(physics.VOLTAGE[i], 2, 1)
            items[0x02020000 | phase] = _num(physics.CURRENT[i], 3, 3, signed=True)
            items[0x02030000 | phase] = _num(physics.POWER_PHASE[i], 3, 4, kilo=True, signed=True)
        return items

    def _value(self, meter: SimulatedMeter, di: int) -> bytes | None:
        encoder = self._items.get(di)
        local_now = self.local_now(meter)
        if encoder is not None:
            return encoder(meter, local_now)
        n = di & 0xFF
        if di >> 8 in (0x050600, 0x050601, 0x050602) and 1 <= n <= MAX_FREEZES:
            return self._freeze(meter, local_now, (di >> 8) & 0xFF, n)
        direction, tariff = (di >> 16) & 0xFF, (di >> 8) & 0xFF
        if di >> 24 == 0 and direction in (1, 2) and tariff <= 4 and 1 <= n <= MAX_SETTLEMENTS:
            return self._settlement(meter, local_now, direction, tariff, n)
        return None

    def _net_power(self, meter: SimulatedMeter, local_now: datetime) -> bytes:
        imp, exp = meter.value(physics.IMPORT_POWER), meter.value(physics.EXPORT_POWER)
        assert isinstance(imp, Decimal) and isinstance(exp, Decimal)
        return encode_bcd((imp - exp) / KILO, 3, 4, signed=True)

    @staticmethod
    def _captured(meter: SimulatedMeter, log: BillingLog, n: int) -> BillingRow | None:
        """The n-th newest captured row; None when the meter has not lived through n captures."""
        meter.sync()  # captures happen as the meter integrates up to now
        return log.newest(n)

    def _captures_here(self, meter: SimulatedMeter, local_now: datetime) -> bool:
        """Whether the meter's billing midnight is this line's (else: the load-profile fallback)."""
        return meter.billing_offset == self.zone.utcoffset(local_now)

    def _freeze(
        self, meter: SimulatedMeter, local_now: datetime, kind: int, n: int
    ) -> bytes | None:
        if self._captures_here(meter, local_now):
            row = self._captured(meter, meter.daily, n)
            if row is None:
                return None
            if kind == 0x00:
                return encode_datetime(self._local(row.clock), "YYMMDDhhmm")
            return _block(row, forward=kind == 0x01)
        # the load profile's row at the n-th last local midnight: totals only
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        stamp = midnight - timedelta(days=n - 1)
        rows = meter.profile_rows(*[stamp.replace(tzinfo=self.zone).astimezone(UTC)] * 2)
        if not rows:
            return None
        if kind == 0x00:
            return encode_datetime(stamp, "YYMMDDhhmm")
        return _kwh(rows[0].import_wh if kind == 0x01 else rows[0].export_wh)

    def _settlement(
        self, meter: SimulatedMeter, local_now: datetime, direction: int, tariff: int, n: int
    ) -> bytes | None:
        if self._captures_here(meter, local_now):
            row = self._captured(meter, meter.monthly, n)
            if row is None:
                return None
            if direction == 2:
                return _kwh(Decimal(row.export_wh) if tariff == 0 else Decimal(0))
            wh = row.import_wh if tariff == 0 else row.import_tariff_wh[tariff - 1]
            return _kwh(Decimal(wh))
        if tariff:
            return None  # the load profile has totals only
        first = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        index = first.year * 12 + first.month - n  # the n-th last 1st of a month, 0-based month
        stamp = first.replace(year=index // 12, month=index % 12 + 1)
        rows = meter.profile_rows(*[stamp.replace(tzinfo=self.zone).astimezone(UTC)] * 2)
        if not rows:
            return None
        return _kwh(rows[0].import_wh if direction == 1 else rows[0].export_wh)

    def _local(self, clock: datetime) -> datetime:
        return clock.astimezone(self.zone).replace(tzinfo=None)

    # -- I/O ---------------------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests on one byte stream until it closes."""
        decoder = FrameDecoder(max_data=255)
        try:
            while data := await reader.read(4096):
                decoder.feed(data)
                while True:
                    try:
                        frame = decoder.next_frame()
                    except MalformedFrame:
                        continue  # a meter ignores what it cannot decode
                    if frame is None:
                        break
                    reply = self.reply_bytes(frame)
                    if self.char_time:
                        await asyncio.sleep(
                            (len(encode_frame(frame)) + len(reply)) * self.char_time
                        )
                    if reply and self.response_delay_s:
                        await asyncio.sleep(self.response_delay_s)
                    if reply:
                        writer.write(reply)
                        await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen on TCP (a serial-to-Ethernet converter in front of the line)."""
        return await asyncio.start_server(self._serve_tracked, host, port)

    async def _serve_tracked(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)

    async def serve_pty(self, master_fd: int) -> None:
        """Answer on a pty master until cancelled; drivers open the slave as a serial port."""
        reader, writer = await fd_streams(master_fd)
        await self.serve(reader, writer)

    async def aclose(self) -> None:
        """Close every TCP connection (call after closing the server) and wait for the handlers."""
        for writer in list(self._writers):
            writer.close()  # the handler sees EOF and returns: no cancelled-task noise
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _zero_energy(meter: SimulatedMeter, local_now: datetime) -> bytes:
    # The physics has one export register; per-tariff export stays zero.
    return encode_bcd(Decimal(0), 4, 2)


def _kwh(wh: Decimal) -> bytes:
    return encode_bcd((wh / KILO) % ENERGY_WRAP, 4, 2)


def _block(row: BillingRow, *, forward: bool) -> bytes:
    """An energy block: the total, then tariff 1..4 (the physics has no export tariffs)."""
    if forward:
        values = [row.import_wh, *row.import_tariff_wh]
    else:
        values = [row.export_wh, 0, 0, 0, 0]
    return b"".join(_kwh(Decimal(wh)) for wh in values)

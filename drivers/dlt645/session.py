"""`Dlt645Session`: the driver contract (`drivers.contract.MeterSession`) for one DL/T 645 meter.

Points are read by OBIS code through the table in `identifiers`; points sharing a data identifier
cost one request. Silence is `Timeout`; an abnormal reply is `ObjectUnavailable` (reads) or
`CommandRejected` (relay control) with the decoded ERR bits. Commands: DISCONNECT/RECONNECT use
relay control (0x1C, plain form only), TIME_SYNC the time broadcast (0x08) followed by a clock
read to confirm it took effect; anything else is `Unsupported`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Self

from drivers.contract import (
    Command,
    CommandKind,
    CommandResult,
    CounterStore,
    PartialRead,
    Point,
    Quality,
    Reading,
)
from drivers.dlt645.bcd import decode_bcd, decode_datetime
from drivers.dlt645.bus import Dlt645Bus, acquire_bus, release_bus
from drivers.dlt645.frame import (
    Frame,
    Function,
    address_matches,
    address_to_wire,
    describe_error,
    encode_frame,
    wire_to_address,
)
from drivers.dlt645.history import daily_freezes, settlements
from drivers.dlt645.identifiers import (
    CLOCK_OBIS,
    DAILY_PROFILE_OBIS,
    DATE_DI,
    KILO,
    MONTHLY_PROFILE_OBIS,
    TIME_DI,
    DataItem,
    Part,
    di_wire,
    format_di,
    item_for,
)
from drivers.dlt645.messages import (
    ESAM_LEVEL,
    RelayAction,
    followup_request,
    read_address_request,
    read_request,
    relay_request,
    time_broadcast,
)
from drivers.dlt645.settings import Dlt645Settings
from drivers.errors import (
    AuthenticationFailed,
    ChannelDown,
    CommandRejected,
    DriverError,
    MalformedFrame,
    ObjectUnavailable,
    ProtocolError,
    Timeout,
    Unsupported,
)
from drivers.obis import normalize_obis

MAX_FOLLOWUPS = 64  # bounds a babbling meter: 64 x 200 bytes is far more than any data item
CLOCK_TOLERANCE = timedelta(seconds=3)  # time-sync confirmation: 1 s resolution + read time
ESAM_NOTE = (
    "meters that require the ESAM-encrypted relay-control form are not supported by this driver"
)


class Dlt645Session:
    """One meter, by address, on a (possibly shared) DL/T 645 channel."""

    def __init__(self, settings: Dlt645Settings, bus: Dlt645Bus, *, meter_id: str) -> None:
        self.settings = settings
        self.meter_id = meter_id
        self._bus = bus
        self._address = address_to_wire(settings.address)
        self._closed = False

    # -- contract ----------------------------------------------------------------------------

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        raw: dict[int, bytes | DriverError] = {}
        readings: list[Reading] = []
        failures: list[DriverError] = []
        fatal = False
        for point in points:
            obis = normalize_obis(point.obis)
            if fatal:
                failures.append(
                    Timeout("not read: the meter stopped answering", meter=self.meter_id, obis=obis)
                )
                continue
            try:
                readings.append(await self._read_point(obis, raw))
            except DriverError as exc:
                failures.append(exc.about(meter=self.meter_id, obis=obis))
                fatal = isinstance(exc, (Timeout, ChannelDown))
        readings = self._clock_rule(readings)
        if failures:
            raise PartialRead(readings, failures, fatal=fatal, meter=self.meter_id)
        return readings

    def _clock_rule(self, readings: list[Reading]) -> list[Reading]:
        """A clock read further than `clock_drift_max_s` from the receive time is clock-suspect
        and keyed on the receive time (a stuck clock would repeat its key). The daily-freeze
        values read with it are clock-suspect too but keep their stamp: it names the freeze."""
        limit = self.settings.clock_drift_max_s
        clock = next((r for r in readings if r.obis == CLOCK_OBIS), None)
        if limit is None or clock is None or not isinstance(clock.value, datetime):
            return readings
        if abs((clock.value - clock.receive_time).total_seconds()) <= limit:
            return readings
        suspect = {"quality": Quality.CLOCK_SUSPECT}
        return [
            r.model_copy(update={**suspect, "capture_time": None})
            if r is clock
            else r.model_copy(update=suspect)
            if r.capture_time is not None
            else r
            for r in readings
        ]

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        """The rows of a history profile captured in [start, end] (see `identifiers`).

        `1.0.99.2.0.255`: the daily freezes (05 06 xx nn, newest first in the meter);
        `0.0.98.1.0.255`: the settlement-day data (00 0d 0t nn). Each row gives the forward total,
        the forward tariffs the meter has and the reverse total, stamped with the capture time.
        """
        obis = normalize_obis(profile.obis)
        if obis == DAILY_PROFILE_OBIS:
            rows = daily_freezes
        elif obis == MONTHLY_PROFILE_OBIS:
            rows = settlements
        else:
            raise Unsupported(
                f"DL/T 645 driver reads only the daily freezes {DAILY_PROFILE_OBIS} and the "
                f"settlement-day data {MONTHLY_PROFILE_OBIS} as profiles",
                meter=self.meter_id,
                obis=obis,
            )
        readings: list[Reading] = []
        try:
            await rows(self, start, end, readings)
        except DriverError as exc:
            exc.about(meter=self.meter_id, obis=obis)
            if not readings:
                raise
            fatal = isinstance(exc, (Timeout, ChannelDown))
            raise PartialRead(
                sorted_readings(readings), [exc], fatal=fatal, meter=self.meter_id
            ) from exc
        return sorted_readings(readings)

    async def execute(self, command: Command) -> CommandResult:
        if command.kind is CommandKind.DISCONNECT:
            return await self._relay(command, RelayAction.TRIP)
        if command.kind is CommandKind.RECONNECT:
            action = (
                RelayAction.CLOSE_DIRECT
                if self.settings.close_mode == "direct"
                else RelayAction.CLOSE_ALLOWED
            )
            return await self._relay(command, action)
        if command.kind is CommandKind.TIME_SYNC:
            return await self._time_sync(command)
        raise Unsupported(
            f"DL/T 645 has no {command.kind.value} command in this driver", meter=self.meter_id
        )

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await release_bus(self._bus)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- DL/T 645 services -------------------------------------------------------------------

    async def read_di(self, di: int) -> bytes:
        """Value bytes of one data identifier: after the DI, +0x33 removed, follow-ups joined."""
        request = read_request(self._address, di)
        reply = await self._exchange(request, di)
        payload = bytearray(reply.data[4:])
        seq = 0
        while reply.followup:
            seq += 1
            if seq > MAX_FOLLOWUPS:
                raise ProtocolError(
                    f"more than {MAX_FOLLOWUPS} follow-up frames for DI {format_di(di)}",
                    meter=self.meter_id,
                )
            reply = await self._exchange(followup_request(self._address, di, seq), di)
            if len(reply.data) < 5:
                raise MalformedFrame(
                    f"follow-up reply for DI {format_di(di)} without data", meter=self.meter_id
                )
            if reply.data[-1] != seq:
                raise ProtocolError(
                    f"follow-up frame {reply.data[-1]} where {seq} was asked for",
                    meter=self.meter_id,
                )
            payload += reply.data[4:-1]
        return bytes(payload)

    async def read_address(self) -> str:
        """Commissioning: the address of the only meter on the line (read address, 0x13)."""
        request = read_address_request()

        def accept(frame: Frame) -> bool:
            return frame.from_meter and frame.function == Function.READ_ADDRESS

        reply = await self._transact(request, accept, "read address")
        if len(reply.data) != 6:
            raise MalformedFrame(
                f"read-address reply carries {len(reply.data)} bytes, not 6", meter=self.meter_id
            )
        return wire_to_address(reply.data)

    # -- internals ---------------------------------------------------------------------------

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.settings.timeout_s

    async def _exchange(self, request: Frame, di: int) -> Frame:
        wanted = di_wire(di)

        def accept(frame: Frame) -> bool:
            return (
                frame.from_meter
                and frame.function == request.function
                and address_matches(request.address, frame.address)
                and (frame.abnormal or frame.data[:4] == wanted)
            )

        return await self._transact(request, accept, f"DI {format_di(di)}")

    async def _transact(self, request: Frame, accept: Callable[[Frame], bool], what: str) -> Frame:
        """One request on the shared line; an abnormal reply is ObjectUnavailable naming `what`."""
        reply = await self._bus.transact(
            encode_frame(request, preamble=self.settings.preamble),
            accept,
            self._deadline(),
            meter=self.meter_id,
        )
        if reply.abnormal:
            raise ObjectUnavailable(
                f"meter refused {what}: {self._err(reply)}", meter=self.meter_id
            )
        return reply

    @staticmethod
    def _err(reply: Frame) -> str:
        return describe_error(reply.data[0]) if reply.data else "no ERR byte"

    async def _raw(self, di: int, cache: dict[int, bytes | DriverError]) -> bytes:
        if di not in cache:
            try:
                cache[di] = await self.read_di(di)
            except (ObjectUnavailable, MalformedFrame, ProtocolError) as exc:
                cache[di] = exc  # remember, so points sharing the DI fail without a new request
        found = cache[di]
        if isinstance(found, DriverError):
            raise type(found)(found.cause, meter=found.meter)
        return found

    async def _read_point(self, obis: str, cache: dict[int, bytes | DriverError]) -> Reading:
        if obis == CLOCK_OBIS:
            date = decode_datetime((await self._raw(DATE_DI, cache))[:4], "YYMMDDWW")
            time = decode_datetime((await self._raw(TIME_DI, cache))[:3], "hhmmss")
            clock = self._local_to_utc(datetime.combine(date.date(), time.time()))
            return self._reading(obis, clock, None, clock)
        item = item_for(obis)
        if item is None:
            raise Unsupported("no DL/T 645 data identifier for this OBIS code")
        data = await self._raw(item.di, cache)
        stamp = None
        if item.stamp_di is not None:
            raw_stamp = (await self._raw(item.stamp_di, cache))[:5]
            stamp = self._local_to_utc(decode_datetime(raw_stamp, "YYMMDDhhmm"))
        value = self._value(item, data[item.offset : item.offset + item.size], item.di)
        return self._reading(obis, value, item.unit, stamp)

    def _value(self, item: DataItem, raw: bytes, di: int) -> Decimal:
        if len(raw) != item.size:
            raise MalformedFrame(
                f"DI {format_di(di)} gave {len(raw)} value byte(s), expected {item.size}"
            )
        value = decode_bcd(raw, item.decimals, signed=item.signed) * item.scale
        if item.part is Part.POSITIVE:
            value = max(value, Decimal(0))
        elif item.part is Part.NEGATIVE:
            value = max(-value, Decimal(0))
        # x1000 moves the decimal point: 1.2345 kW is 1234.5 W, 1234.56 kWh is 1234560 Wh.
        places = max(item.decimals - 3, 0) if item.scale == KILO else item.decimals
        return value.quantize(Decimal(1).scaleb(-places))

    def _reading(
        self, obis: str, value: Decimal | datetime, unit: str | None, stamp: datetime | None
    ) -> Reading:
        return Reading(
            meter_id=self.meter_id,
            obis=obis,
            value=value,
            unit=unit,
            capture_time=stamp,
            receive_time=datetime.now(UTC),
        )

    def _local_to_utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.settings.zone).astimezone(UTC)

    def _utc_to_local(self, when: datetime) -> datetime:
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        return aware.astimezone(self.settings.zone).replace(tzinfo=None)

    async def _relay(self, command: Command, action: RelayAction) -> CommandResult:
        if self.settings.password is None:
            raise AuthenticationFailed(
                "relay control needs the meter password (settings.password)", meter=self.meter_id
            )
        password = self.settings.password.get_secret_value()
        if password[0] == ESAM_LEVEL:
            raise Unsupported(
                f"password level 98 means ESAM-encrypted relay control: {ESAM_NOTE}",
                meter=self.meter_id,
            )
        valid_until = self._utc_to_local(datetime.now(UTC)) + timedelta(
            seconds=self.settings.command_validity_s
        )
        request = relay_request(
            self._address,
            password=password,
            operator_code=self.settings.operator_code.get_secret_value(),
            action=action,
            valid_until=valid_until,
        )

        def accept(frame: Frame) -> bool:
            return (
                frame.from_meter
                and frame.function == Function.RELAY_CONTROL
                and address_matches(request.address, frame.address)
            )

        reply = await self._bus.transact(
            encode_frame(request, preamble=self.settings.preamble),
            accept,
            self._deadline(),
            meter=self.meter_id,
        )
        if reply.abnormal:
            err = reply.data[0] if reply.data else 0
            note = f"; {ESAM_NOTE}" if err & 0x04 else ""
            raise CommandRejected(
                f"relay control 0x{action:02X} refused: {self._err(reply)}{note}",
                meter=self.meter_id,
            )
        return CommandResult(
            command_id=command.id,
            meter_id=self.meter_id,
            ok=True,
            detail=f"relay control 0x{action:02X} ({action.name.lower()}) acknowledged",
            completed_at=datetime.now(UTC),
        )

    async def _time_sync(self, command: Command) -> CommandResult:
        loop = asyncio.get_running_loop()
        target = command.time or datetime.now(UTC)
        sent_at = loop.time()
        frame = time_broadcast(self._utc_to_local(target))
        await self._bus.send(encode_frame(frame, preamble=self.settings.preamble))
        try:
            reading = (await self.read([Point(obis=CLOCK_OBIS)]))[0]
        except PartialRead as exc:
            detail = f"time broadcast sent, not confirmed: {exc.failures[0]}"
            return CommandResult(
                command_id=command.id,
                meter_id=self.meter_id,
                ok=False,
                detail=detail,
                completed_at=datetime.now(UTC),
            )
        assert isinstance(reading.value, datetime)
        expected = target + timedelta(seconds=loop.time() - sent_at)
        off = reading.value - expected
        ok = abs(off) <= CLOCK_TOLERANCE
        detail = (
            f"meter clock {reading.value.isoformat()} after broadcast"
            if ok
            else f"broadcast not applied: meter clock is {off.total_seconds():+.0f} s off "
            "(DL/T 645 meters accept broadcast corrections of at most 5 minutes, once a day)"
        )
        return CommandResult(
            command_id=command.id,
            meter_id=self.meter_id,
            ok=ok,
            detail=detail,
            completed_at=datetime.now(UTC),
        )


def sorted_readings(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda r: (r.capture_time or r.receive_time, r.obis))


async def open_session(
    settings: Dlt645Settings, *, meter_id: str, counters: CounterStore | None = None
) -> Dlt645Session:
    """Open (or join) the channel and return a session for the meter at `settings.address`.

    `counters` is accepted for the common driver signature; DL/T 645 has no invocation counter.
    """
    del counters
    bus = await acquire_bus(settings.link, connect_timeout_s=settings.connect_timeout_s)
    return Dlt645Session(settings, bus, meter_id=meter_id)

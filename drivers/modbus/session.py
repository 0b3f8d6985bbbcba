"""`ModbusSession`: the driver contract for one Modbus meter (one unit id on one channel).

Points are looked up in the meter model's register map, coalesced into as few requests as the
map and settings allow, and decoded to Decimals in head-end units. A timeout or a dead channel
ends the read at once (the unit is not answering: the bus moves on to the next unit) and fails
the remaining points; a refused or NaN register fails only its own points.
A unit that refuses a coalesced read with exception 02 (many meters do when the block spans
reserved registers the manual leaves out) is asked again in gap-free runs, then one quantity at
a time, and the session reads without gaps from then on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Self

from drivers.contract import (
    Command,
    CommandKind,
    CommandResult,
    CounterStore,
    PartialRead,
    Point,
    Reading,
)
from drivers.errors import (
    ChannelDown,
    DriverError,
    MalformedFrame,
    ObjectUnavailable,
    Timeout,
    Unsupported,
)
from drivers.modbus.bus import ModbusBus, acquire_bus
from drivers.modbus.codec import NotFinite, decode, encode
from drivers.modbus.plan import Block, plan_reads
from drivers.modbus.registermap import CommandEntry, RegisterEntry, RegisterMap, WrittenRegister
from drivers.modbus.settings import ModbusSettings

_FATAL = (Timeout, ChannelDown)


def _split(block: Block) -> list[Block]:
    """Smaller reads for a refused block: its gap-free runs, else one read per address;
    [] when the block is a single quantity already (the refusal is about that register)."""
    runs = plan_reads(block.entries, block.count, 0)
    if len(runs) > 1:
        return runs
    widest = max(e.count for e in block.entries)
    singles = plan_reads(block.entries, widest, 0)
    return singles if len(singles) > 1 else []


def _again(error: DriverError, meter: str, obis: str) -> DriverError:
    """A copy of `error` about one point (each failed point gets its own error)."""
    return type(error)(error.cause, meter=meter, obis=obis)


class ModbusSession:
    """A `drivers.contract.MeterSession` for one unit id; many share one `ModbusBus`."""

    def __init__(self, settings: ModbusSettings, meter_id: str, bus: ModbusBus) -> None:
        self.meter_id = meter_id
        self.settings = settings
        self.register_map: RegisterMap = settings.register_map()
        self.bus = bus
        self._closed = False
        self._gaps_refused = False

    def __repr__(self) -> str:
        return (
            f"ModbusSession({self.meter_id!r}, {self.settings.channel_key()}, "
            f"unit={self.settings.unit}, model={self.settings.model})"
        )

    @property
    def max_gap(self) -> int:
        """Unused registers read through; 0 once the unit has refused a read across a gap."""
        return 0 if self._gaps_refused else self.register_map.max_gap

    @property
    def max_registers(self) -> int:
        limit = self.register_map.max_registers_per_request
        return min(limit, self.settings.max_registers or limit)

    def points(self) -> list[Point]:
        return self.register_map.points()

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        if self._closed:
            raise ChannelDown("session is closed", meter=self.meter_id)
        wanted = list(dict.fromkeys(p.obis for p in points))
        failures: list[DriverError] = []
        entries: list[RegisterEntry] = []
        for obis in wanted:
            entry = self.register_map.entry(obis)
            if entry is None:
                failures.append(
                    Unsupported(
                        f"model {self.register_map.model} maps no register to it",
                        meter=self.meter_id,
                        obis=obis,
                    )
                )
            else:
                entries.append(entry)
        values: dict[str, Reading] = {}
        fatal: DriverError | None = None
        pending = deque(plan_reads(entries, self.max_registers, self.max_gap))
        while pending:
            block = pending.popleft()
            if fatal is not None:
                failures.extend(_again(fatal, self.meter_id, e.obis) for e in block.entries)
                continue
            try:
                registers = await self.bus.read(
                    self.settings.unit,
                    block.function,
                    block.start,
                    block.count,
                    timeout=self.settings.timeout_s,
                )
            except ObjectUnavailable as exc:
                smaller = _split(block)
                if smaller:
                    # The unit refuses a coalesced read (a reserved register in the gap, or a
                    # block it will not serve at once): from now on read only what is mapped.
                    self._gaps_refused = True
                    pending.extendleft(reversed(smaller))
                else:
                    failures.extend(_again(exc, self.meter_id, e.obis) for e in block.entries)
                continue
            except DriverError as exc:
                failures.extend(_again(exc, self.meter_id, e.obis) for e in block.entries)
                if isinstance(exc, _FATAL):
                    fatal = exc
                continue
            received = datetime.now(UTC)
            for entry in block.entries:
                try:
                    regs = block.slice(registers, entry)
                    values[entry.obis] = self._reading(entry, regs, received)
                except DriverError as exc:
                    failures.append(exc)
        readings = [values[obis] for obis in wanted if obis in values]
        if failures:
            raise PartialRead(readings, failures, fatal=fatal is not None, meter=self.meter_id)
        return readings

    def _reading(self, entry: RegisterEntry, registers: list[int], received: datetime) -> Reading:
        try:
            value = decode(registers, entry)
        except NotFinite as exc:
            raise ObjectUnavailable(
                f"register 0x{entry.address:04X} holds no valid value ({exc})",
                meter=self.meter_id,
                obis=entry.obis,
            ) from None
        except ValueError as exc:
            raise MalformedFrame(str(exc), meter=self.meter_id, obis=entry.obis) from None
        if entry.part == "positive":
            value = max(value, Decimal(0) * entry.scale)
        elif entry.part == "negative":
            value = max(-value, Decimal(0) * entry.scale)
        return Reading(
            meter_id=self.meter_id,
            obis=entry.obis,
            value=value,
            unit=entry.unit,
            receive_time=received,
        )

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        raise Unsupported(
            f"model {self.register_map.model} has no load profile over Modbus",
            meter=self.meter_id,
            obis=profile.obis,
        )

    async def execute(self, command: Command) -> CommandResult:
        entry = self.register_map.command(command.kind)
        if entry is None:
            raise Unsupported(
                f"model {self.register_map.model} has no writable register for {command.kind}",
                meter=self.meter_id,
            )
        values = self._command_registers(entry, command)
        what = f"{command.kind} (register 0x{entry.address:04X})"
        leased = ""
        if command.kind is CommandKind.SET_LOAD_LIMIT:
            lease = entry.lease
            if lease is None and command.lease_s is not None:
                raise Unsupported(
                    f"model {self.register_map.model} has no lease register: "
                    "a limit that expires by itself cannot be set",
                    meter=self.meter_id,
                )
            if lease is not None:
                # always written, 0 for no lease, so an earlier lease never applies to this limit
                seconds = command.lease_s or 0
                await self._write(lease, self._encoded(Decimal(seconds), lease), what)
                leased = f", leased for {seconds} s" if seconds else ""
        await self._write(entry, values, what)
        # Read the register back: a write that was acknowledged but not applied is not "done".
        try:
            back = await self.bus.read(
                self.settings.unit, 3, entry.address, entry.count, timeout=self.settings.timeout_s
            )
        except DriverError as exc:
            if isinstance(exc, _FATAL):
                raise exc.about(meter=self.meter_id, obis=what) from None
            back = None  # write-only register: the acknowledgement is all we get
        ok = back is None or back == values
        detail = f"wrote {what}{leased}" if ok else f"{what}: read back {back}, expected {values}"
        return CommandResult(
            command_id=command.id,
            meter_id=self.meter_id,
            ok=ok,
            detail=detail,
            completed_at=datetime.now(UTC),
        )

    async def _write(self, entry: WrittenRegister, values: list[int], what: str) -> None:
        try:
            await self.bus.write(
                self.settings.unit,
                entry.function,
                entry.address,
                values,
                timeout=self.settings.timeout_s,
            )
        except DriverError as exc:
            raise exc.about(meter=self.meter_id, obis=what) from None

    def _encoded(self, value: Decimal, entry: WrittenRegister) -> list[int]:
        try:
            return encode(value, entry)
        except ValueError as exc:
            raise Unsupported(str(exc), meter=self.meter_id) from None

    def _command_registers(self, entry: CommandEntry, command: Command) -> list[int]:
        if command.kind is CommandKind.SET_LOAD_LIMIT:
            if command.limit_w is None:
                raise Unsupported("set_load_limit without limit_w", meter=self.meter_id)
            return self._encoded(command.limit_w, entry)
        assert entry.value is not None  # the map validator guarantees it
        return encode(Decimal(entry.value) * entry.scale, entry)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.bus.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_session(
    settings: ModbusSettings, *, meter_id: str, counters: CounterStore | None = None
) -> ModbusSession:
    """Open a session on the shared bus of the settings' channel (`counters` unused: Modbus has
    no invocation counters). The channel connects on first use, inside the bus lock."""
    bus = acquire_bus(settings)
    try:
        settings.register_map()
    except DriverError:
        await bus.release()
        raise
    return ModbusSession(settings, meter_id, bus)

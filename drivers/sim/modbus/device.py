"""One simulated Modbus unit: answers request PDUs from a register map and a `SimulatedMeter`.

Readable registers are computed on each request from `meter.value(obis)` in head-end units,
divided by the map's scale and encoded per the map (so a kWh register shows Wh / 1000). A signed
register mapped as an import part and an export part holds import − export. Registers the map
does not define read as 0 inside a block (real meters do the same for reserved addresses); a
request touching no defined register is exception 02. Writes to the map's command registers
are applied to the meter (relay, load limit) and kept, so the driver can read them back.

A limit register with a lease register (the simulator's "hes-limiter" model): the lease written
last (seconds, 0 = none) applies to the next limit written, as an emergency limit of the
`SimulatedMeter` that ends by itself; the limit register then reads the limit in force (0 once
the lease has run out), so a read-back tells whether a limit still holds.
"""

from __future__ import annotations

import math
from decimal import Decimal

from drivers.contract import CommandKind
from drivers.modbus.codec import decode, encode, encode_raw
from drivers.modbus.registermap import CommandEntry, RegisterEntry, RegisterMap
from drivers.sim.physics import SimulatedMeter

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3


def exception_pdu(function: int, code: int) -> bytes:
    return bytes([function | 0x80, code])


class SimModbusDevice:
    def __init__(self, meter: SimulatedMeter, register_map: RegisterMap) -> None:
        self.meter = meter
        self.map = register_map
        self.nan_obis: set[str] = set()  # fault injection: serve NaN for these quantities
        self.holding: dict[int, int] = {}  # values written through command registers
        self.lease_s = 0  # the lease register's value: applies to the next limit written
        for entry in register_map.commands:
            if entry.value is not None and entry.kind is CommandKind.RECONNECT:
                self._store(entry, encode(Decimal(entry.value) * entry.scale, entry))

    def value(self, obis: str) -> Decimal | None:
        """What this unit serves for a quantity, in head-end units (None: not a number)."""
        value = self.meter.value(obis, phases=self.map.phases)
        return value if isinstance(value, Decimal) else None

    def handle(self, pdu: bytes) -> bytes:
        """Reply PDU for a request PDU (always a reply: silence is the server's business)."""
        if not pdu:
            return exception_pdu(0, ILLEGAL_FUNCTION)
        function = pdu[0]
        if function in (3, 4) and len(pdu) == 5:
            address = int.from_bytes(pdu[1:3], "big")
            count = int.from_bytes(pdu[3:5], "big")
            return self._read(function, address, count)
        if function == 6 and len(pdu) == 5:
            address = int.from_bytes(pdu[1:3], "big")
            return self._write(function, address, [int.from_bytes(pdu[3:5], "big")], pdu)
        if function == 16 and len(pdu) >= 6:
            address = int.from_bytes(pdu[1:3], "big")
            count = int.from_bytes(pdu[3:5], "big")
            data = pdu[6:]
            if pdu[5] != 2 * count or len(data) != 2 * count or not 1 <= count <= 123:
                return exception_pdu(function, ILLEGAL_VALUE)
            values = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
            return self._write(function, address, values, pdu[:5])
        return exception_pdu(function, ILLEGAL_FUNCTION)

    # -- reads -------------------------------------------------------------------------------

    def _read(self, function: int, address: int, count: int) -> bytes:
        if not 1 <= count <= min(125, self.map.max_registers_per_request):
            return exception_pdu(function, ILLEGAL_VALUE)
        end = address + count
        table: dict[int, int] = {}
        by_address: dict[int, list[RegisterEntry]] = {}
        for entry in self.map.registers:
            if entry.function == function and entry.address < end and entry.end > address:
                by_address.setdefault(entry.address, []).append(entry)
        for entries in by_address.values():
            first = entries[0]
            for offset, reg in enumerate(self._registers(entries)):
                table[first.address + offset] = reg
        if function == 3:
            table.update({a: v for a, v in self.holding.items() if address <= a < end})
            for limiter in self._limit_registers():
                if limiter.address < end and limiter.end > address:
                    in_force = encode(Decimal(round(self.meter.active_limit_w() or 0)), limiter)
                    for offset, reg in enumerate(in_force):
                        if address <= limiter.address + offset < end:
                            table[limiter.address + offset] = reg
        if not table:
            return exception_pdu(function, ILLEGAL_ADDRESS)
        body = b"".join(table.get(a, 0).to_bytes(2, "big") for a in range(address, end))
        return bytes([function, len(body)]) + body

    def _registers(self, entries: list[RegisterEntry]) -> list[int]:
        first = entries[0]
        if any(e.obis in self.nan_obis for e in entries):
            return encode_raw(math.nan, first) if first.data_type.is_float else [0] * first.count
        total = Decimal(0)
        for entry in entries:
            value = self.meter.value(entry.obis, phases=self.map.phases)
            number = value if isinstance(value, Decimal) else Decimal(0)
            total += -number if entry.part == "negative" else number
        return encode(total, first)

    # -- writes ------------------------------------------------------------------------------

    def _limit_registers(self) -> list[CommandEntry]:
        """Limit registers that have a lease: they read the limit in force."""
        return [
            c
            for c in self.map.commands
            if c.kind is CommandKind.SET_LOAD_LIMIT and c.lease is not None
        ]

    def _write(self, function: int, address: int, values: list[int], echo: bytes) -> bytes:
        for entry in self._limit_registers():
            lease = entry.lease
            if lease is not None and lease.address == address and lease.count == len(values):
                self.lease_s = int(decode(values, lease))
                for offset, value in enumerate(values):
                    self.holding[lease.address + offset] = value
                return echo
        candidates = [
            c for c in self.map.commands if c.address == address and c.count == len(values)
        ]
        for entry in candidates:
            if entry.value is None or encode(Decimal(entry.value) * entry.scale, entry) == values:
                self._apply(entry, values)
                self._store(entry, values)
                return echo
        if candidates:
            return exception_pdu(function, ILLEGAL_VALUE)
        return exception_pdu(function, ILLEGAL_ADDRESS)

    def _store(self, entry: CommandEntry, values: list[int]) -> None:
        for offset, value in enumerate(values):
            self.holding[entry.address + offset] = value

    def _apply(self, entry: CommandEntry, values: list[int]) -> None:
        if entry.kind is CommandKind.DISCONNECT:
            self.meter.disconnect()
        elif entry.kind is CommandKind.RECONNECT:
            self.meter.reconnect()
        elif entry.kind is CommandKind.SET_LOAD_LIMIT:
            limit = float(decode(values, entry))
            if entry.lease is not None and self.lease_s:
                self.meter.set_limit(None)
                self.meter.set_emergency_limit(limit, self.lease_s)
            else:
                if entry.lease is not None:
                    self.meter.clear_emergency()
                self.meter.set_limit(limit)
        elif entry.kind is CommandKind.CLEAR_LOAD_LIMIT:
            self.meter.set_limit(None)
            self.meter.clear_emergency()

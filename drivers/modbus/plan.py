"""Coalescing: group the registers to read into as few requests as the device allows.

Entries with the same function code are sorted by address and merged while the merged block stays
within `max_registers` and the unused registers between two entries do not exceed `max_gap`
(reading through a gap costs 2 bytes per register on the wire; a new request costs ~12 bytes plus
two 3.5-character silences, so small gaps are worth reading through).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.modbus.registermap import RegisterEntry


@dataclass(frozen=True, slots=True)
class Block:
    function: int
    start: int
    count: int
    entries: tuple[RegisterEntry, ...]

    def slice(self, registers: list[int], entry: RegisterEntry) -> list[int]:
        offset = entry.address - self.start
        return registers[offset : offset + entry.count]


def plan_reads(entries: Iterable[RegisterEntry], max_registers: int, max_gap: int) -> list[Block]:
    by_function: dict[int, list[RegisterEntry]] = {}
    for entry in entries:
        by_function.setdefault(entry.function, []).append(entry)
    blocks: list[Block] = []
    for function in sorted(by_function):
        ordered = sorted(by_function[function], key=lambda e: (e.address, e.count))
        current: list[RegisterEntry] = []
        start = end = 0
        for entry in ordered:
            if current:
                new_end = max(end, entry.end)
                if entry.address - end <= max_gap and new_end - start <= max_registers:
                    current.append(entry)
                    end = new_end
                    continue
                blocks.append(Block(function, start, end - start, tuple(current)))
            current = [entry]
            start, end = entry.address, entry.end
        if current:
            blocks.append(Block(function, start, end - start, tuple(current)))
    return blocks

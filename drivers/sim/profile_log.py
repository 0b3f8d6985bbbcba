"""A simulated meter's load profile held compactly: three parallel arrays of 64-bit integers.

A day of 15-minute rows costs 96 x 24 bytes instead of 96 `ProfileRow`s of datetime and Decimal
objects (~34 KB), so a fleet of 100,000 simulated meters fits in memory. `ProfileRow`s are built
only for the rows a caller asks for. It behaves as the `deque(maxlen=...)` it replaces: appending
beyond `maxlen` forgets the oldest rows, and iteration yields the kept rows oldest first.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def to_us(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact: no float on the way)."""
    return (at - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class ProfileRow:
    clock: datetime
    import_wh: Decimal
    export_wh: Decimal


class ProfileLog:
    """Rows of (meter clock, import Wh, export Wh); the newest `maxlen` are kept."""

    __slots__ = ("_clock_us", "_export", "_import", "_sorted", "maxlen")

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._clock_us = array("q")
        self._import = array("q")
        self._export = array("q")
        # Rows are captured in time order, but a meter whose clock was set back captures
        # clocks out of order; then a range is found by scanning instead of bisecting.
        self._sorted = True

    def append(self, clock_us: int, import_wh: int, export_wh: int) -> None:
        clocks = self._clock_us
        if clocks and clock_us < clocks[-1]:
            self._sorted = False
        clocks.append(clock_us)
        self._import.append(import_wh)
        self._export.append(export_wh)
        # Forget old rows in batches, not one at a time: each `del` moves the whole array.
        excess = len(clocks) - self.maxlen
        if excess > max(16, self.maxlen // 4):
            del clocks[:excess], self._import[:excess], self._export[:excess]

    def _first(self) -> int:
        return max(0, len(self._clock_us) - self.maxlen)

    def __len__(self) -> int:
        return len(self._clock_us) - self._first()

    def _row(self, i: int) -> ProfileRow:
        return ProfileRow(
            from_us(self._clock_us[i]), Decimal(self._import[i]), Decimal(self._export[i])
        )

    def __iter__(self) -> Iterator[ProfileRow]:
        return (self._row(i) for i in range(self._first(), len(self._clock_us)))

    def last(self) -> tuple[int, int, int] | None:
        """The newest row as (clock µs, import Wh, export Wh), None when empty."""
        if not self._clock_us:
            return None
        return self._clock_us[-1], self._import[-1], self._export[-1]

    def between(self, start: datetime, end: datetime) -> list[ProfileRow]:
        """The kept rows with start <= clock <= end, oldest first."""
        return [self._row(i) for i in self._indices(start, end)]

    def raw_between(self, start: datetime, end: datetime) -> list[tuple[int, int, int]]:
        """As `between`, as (clock µs, import Wh, export Wh): no datetime or Decimal built."""
        clocks, imports, exports = self._clock_us, self._import, self._export
        return [(clocks[i], imports[i], exports[i]) for i in self._indices(start, end)]

    def raw(self) -> list[tuple[int, int, int]]:
        """Every kept row as (clock µs, import Wh, export Wh), oldest first."""
        first = self._first()
        return list(
            zip(self._clock_us[first:], self._import[first:], self._export[first:], strict=True)
        )

    def _indices(self, start: datetime, end: datetime) -> range | list[int]:
        lo_us, hi_us = to_us(start), to_us(end)
        clocks, first = self._clock_us, self._first()
        if self._sorted:
            lo = bisect_left(clocks, lo_us, first)
            return range(lo, bisect_right(clocks, hi_us, lo))
        return [i for i in range(first, len(clocks)) if lo_us <= clocks[i] <= hi_us]

"""A column of exact decimal values held as integers and one power of ten: `ScaledInts`.

Energy registers are mostly stored as whole numbers (DLMS Wh after its scaler); a month of
15-minute profile for one meter is ~6,000 of them. Parsing each into a `Decimal` costs more than
reading it from the database, while numpy parses the whole column in one C call and takes its
differences in another. The column still reads as a sequence of `Decimal` (exact: the integer
times 10^exponent), made one at a time where someone indexes it; callers that know the type work
on `ints` directly (interval differences, sums, maxima).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import overload

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]

# beyond this numpy's parser saturates (to 2^63 - 1): such a column is parsed as Decimals
_LIMIT = 10**18

# Decimals of small integers at the common exponents, shared: an interval's advance in Wh is a
# few thousand at most, so a month's differences come from this table, not one object each.
SMALL = 1 << 16
_TABLES: dict[int, list[Decimal]] = {}


def decimal_table(exponent: int) -> list[Decimal]:
    """Decimal(i) * 10^exponent for 0 <= i < SMALL, made once per exponent."""
    table = _TABLES.get(exponent)
    if table is None:
        table = _TABLES[exponent] = [Decimal(i).scaleb(exponent) for i in range(SMALL)]
    return table


def parse_integers(text: str) -> Ints | None:
    """The comma-separated whole numbers of `text` as int64, or None when any is not one
    (a fraction, an exponent, 18 digits or more): the caller then parses Decimals."""
    with warnings.catch_warnings():
        # numpy warns, made an error here, rather than stopping quietly at text it cannot read
        warnings.simplefilter("error")
        try:
            ints = np.fromstring(text, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    if len(ints) != text.count(",") + 1:  # an empty value ("1,,2" or a trailing comma)
        return None
    if len(ints) and (int(ints.max()) >= _LIMIT or int(ints.min()) <= -_LIMIT):
        return None
    return ints


def decimals_of(ints: Ints, exponent: int) -> list[Decimal]:
    """`ints` times 10^exponent as Decimals (small non-negative values from a shared table)."""
    small = not len(ints) or (int(ints.min()) >= 0 and int(ints.max()) < SMALL)
    if small and exponent in (0, -3):
        return list(map(decimal_table(exponent).__getitem__, ints.tolist()))
    return [Decimal(v).scaleb(exponent) for v in ints.tolist()]


class ScaledInts(Sequence[Decimal]):
    """`ints[i] * 10^exponent` as a read-only sequence of Decimal; slices are views."""

    __slots__ = ("exponent", "ints")

    def __init__(self, ints: Ints, exponent: int) -> None:
        self.ints = ints
        self.exponent = exponent

    def __len__(self) -> int:
        return len(self.ints)

    @overload
    def __getitem__(self, index: int) -> Decimal: ...

    @overload
    def __getitem__(self, index: slice) -> ScaledInts: ...

    def __getitem__(self, index: int | slice) -> Decimal | ScaledInts:
        if isinstance(index, slice):
            return ScaledInts(self.ints[index], self.exponent)
        return Decimal(int(self.ints[index])).scaleb(self.exponent)

    def __iter__(self) -> Iterator[Decimal]:
        return iter(self.decimals())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScaledInts):
            return list(self) == list(other)
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence, as list

    def __repr__(self) -> str:
        return f"ScaledInts({len(self)} values, 10^{self.exponent})"

    def rescaled(self, by: int) -> ScaledInts:
        """The same integers, worth 10^by times as much (a unit change, exact)."""
        return ScaledInts(self.ints, self.exponent + by)

    def differences(self) -> ScaledInts:
        """ints[i + 1] - ints[i], at the same exponent."""
        return ScaledInts(np.diff(self.ints), self.exponent)

    def decimals(self) -> list[Decimal]:
        """Every value as a Decimal (see `decimals_of`)."""
        return decimals_of(self.ints, self.exponent)

    @classmethod
    def joined(cls, parts: Sequence[ScaledInts]) -> ScaledInts:
        """The parts one after the other (all at the first part's exponent)."""
        if not parts:
            return cls(np.empty(0, dtype=np.int64), 0)
        exponent = parts[0].exponent
        if any(p.exponent != exponent for p in parts):
            raise ValueError("joining ScaledInts of different exponents")
        return cls(np.concatenate([p.ints for p in parts]), exponent)

"""One register's stored values as columns (times, cumulative kWh, the qualities that are not
"ok"): what VEE and determinants read. Built once per meter and register from either form of
`MeterData` (a list of (time, kWh, quality) tuples, or columns such as the store's
`RegisterColumns` after conversion to kWh)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from billing.determinants.inputs import ColumnsLike, RegisterInput


@dataclass(frozen=True, slots=True)
class Register:
    times: Sequence[datetime]  # aware UTC, increasing
    values: Sequence[Decimal]  # cumulative kWh
    flagged: Mapping[datetime, str]  # stored quality where it is not "ok"

    def __len__(self) -> int:
        return len(self.times)

    def quality(self, at: datetime) -> str:
        return self.flagged.get(at, "ok") if self.flagged else "ok"

    def span(self, first: datetime, last: datetime) -> tuple[int, int]:
        """Positions [lo, hi) of the values at first <= time <= last."""
        return bisect_left(self.times, first), bisect_right(self.times, last)


EMPTY = Register((), (), {})


def as_register(data: RegisterInput) -> Register:
    if isinstance(data, Register):
        return data
    if not isinstance(data, (list, tuple)):
        # columns (a runtime-checked Protocol costs ~10 us a call: not asked per register)
        if not hasattr(data, "times"):
            raise TypeError(
                f"register values as {type(data).__name__}: give a list of (time, kWh, quality) "
                "tuples or columns (times, values, flagged)"
            )
        columns = cast(ColumnsLike, data)
        return Register(columns.times, columns.values, columns.flagged)
    if not data:
        return EMPTY
    times, values, qualities = zip(*data, strict=True)
    if qualities.count("ok") == len(qualities):
        return Register(times, values, {})
    flagged = {at: q for at, q in zip(times, qualities, strict=True) if q != "ok"}
    return Register(times, values, flagged)

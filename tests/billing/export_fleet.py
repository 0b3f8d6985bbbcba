"""A small simulated fleet for the end-to-end export test: its fleet file (generated GPRS meters,
a [billing] section on the repository's sim-tou tariff), `headend` run in this process, and the
readings the simulated month stored, read back from the store, and the stored bills read from
the bills tables (the test's references: never from the export code).

The generator's meters are gprs-000001 upward; `headend simulate-month` seeds meter k (1-based)
with `seed + k - 1` and gives it rooftop PV when `random.Random(seed + k - 1).random() < pv_share`.
With seed 1 and pv_share 0.237 those draws are 0.134 (k=1), 0.956, 0.238, 0.236 (k=4), 0.623,
0.793: exactly gprs-000001 and gprs-000004 have PV (0.238 of k=3 is just above 0.237).
"""

from __future__ import annotations

import asyncio
import gc
import io
import itertools
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from headend.cli.main import main
from headend.simulation.generator import FleetShape, generate, to_toml
from headend.store import open_store

ROOT = Path(__file__).resolve().parents[2]
TARIFF = ROOT / "config" / "tariffs" / "sim-tou.toml"
SITE = "e2e"
PERIOD = "2026-10"
START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
INTERVALS = 31 * 96  # 2,976 quarter-hours in October (UTC: no daylight saving)
IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"
TOU_REGISTERS = {  # sim-tou's [registers]: period -> the simulated meters' tariff register
    "night": "1.0.1.8.1.255",
    "day": "1.0.1.8.2.255",
    "peak": "1.0.1.8.3.255",
    "shoulder": "1.0.1.8.4.255",
}
PV_SHARE = 0.237
PV_METERS = ("gprs-000001", "gprs-000004")  # see the module docstring


def meter_ids(count: int) -> list[str]:
    return [f"gprs-{k:06d}" for k in range(1, count + 1)]


def write_fleet(path: Path, meters: int, *, batch_meters: int | None = None) -> Path:
    """A fleet file of `meters` generated GPRS meters whose site database sits beside it."""
    data: dict[str, Any] = generate(FleetShape(meters=meters, gprs_port=0, factor=0))
    data["site"]["name"] = SITE
    data["site"]["database"] = str(path.parent / "site.sqlite3")
    data["simulation"].update(seed=1, pv_share=PV_SHARE)
    billing: dict[str, Any] = {"tariffs": [str(TARIFF)], "export": {"derive_nmi": True}}
    if batch_meters is not None:
        billing["batch_meters"] = batch_meters
    data["billing"] = billing
    path.write_text(to_toml(data))
    return path


def headend(*args: str) -> tuple[int, str, str]:
    """`headend ARGS` in this process (no event loop may be running): (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    threshold = gc.get_threshold()  # main tunes the collector for big runs: put it back
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 2
    finally:
        gc.set_threshold(*threshold)
    return status, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class StoredMonth:
    """What the store holds per (meter, OBIS): value in Wh by capture time."""

    wh: dict[tuple[str, str], dict[datetime, Decimal]]

    def kwh_at(self, meter: str, obis: str, at: datetime) -> Decimal:
        return self.wh[(meter, obis)][at] / 1000

    def interval_kwh(self, meter: str, obis: str) -> list[Decimal]:
        """The month's 15-minute energy: consecutive cumulative values' differences / 1000."""
        values = self.wh[(meter, obis)]
        times = [START + STEP * i for i in range(INTERVALS + 1)]
        return [(values[b] - values[a]) / 1000 for a, b in itertools.pairwise(times)]


async def _read(url: str, meters: list[str]) -> StoredMonth:
    store = await open_store(url)
    try:
        wh: dict[tuple[str, str], dict[datetime, Decimal]] = {}
        for meter in meters:
            for reading in await store.readings(meter_id=meter, since=START, until=END):
                assert isinstance(reading.value, Decimal) and reading.unit == "Wh", reading
                assert reading.capture_time is not None
                at = reading.capture_time.astimezone(UTC)
                column = wh.setdefault((meter, str(reading.obis)), {})
                # the 00:00 profile row and the daily row both hold the total: the same value
                assert column.setdefault(at, reading.value) == reading.value, reading
        return StoredMonth(wh)
    finally:
        await store.close()


def stored_month(url: str, meters: list[str]) -> StoredMonth:
    return asyncio.run(_read(url, meters))


def bill_lines(db: Path) -> dict[str, list[tuple[str, str | None, Decimal]]]:
    """(kind, tariff period, amount) of each meter's current bill of the period, straight from
    the bills tables of a SQLite site database, in line order."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT b.meter_id, l.kind, l.tariff_period, l.amount FROM bills b "
            "JOIN bill_lines l ON l.bill_id = b.bill_id "
            "WHERE b.period = ? AND b.superseded_by IS NULL ORDER BY b.meter_id, l.line_no",
            (PERIOD,),
        ).fetchall()
    lines: dict[str, list[tuple[str, str | None, Decimal]]] = {}
    for meter, kind, tariff_period, amount in rows:
        lines.setdefault(meter, []).append((kind, tariff_period, Decimal(amount)))
    return lines


def bill_totals(db: Path) -> dict[str, Decimal]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT meter_id, total FROM bills WHERE period = ? AND superseded_by IS NULL",
            (PERIOD,),
        ).fetchall()
    return {meter: Decimal(total) for meter, total in rows}

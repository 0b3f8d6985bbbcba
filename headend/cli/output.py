"""How the CLI prints readings and failures: JSON lines, rich tables, a stderr line per failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from rich.console import Console
from rich.table import Table

from drivers.contract import Reading
from headend.reading.report import MeterReport, MeterStatus, RunReport


def value_text(value: Decimal | datetime | str) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation: "1000000", not "1E+6"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def reading_json(reading: Reading) -> str:
    return json.dumps(
        {
            "meter": reading.meter_id,
            "obis": reading.obis,
            "value": value_text(reading.value),
            "unit": reading.unit,
            "capture_time": reading.capture_time.isoformat() if reading.capture_time else None,
            "quality": reading.quality.value,
        }
    )


def print_json(readings: Sequence[Reading], out: TextIO = sys.stdout) -> None:
    for reading in readings:
        out.write(reading_json(reading) + "\n")
    out.flush()


def readings_table(readings: Sequence[Reading]) -> Table:
    table = Table(title=f"{len(readings)} value(s)")
    for column, justify in (
        ("meter", "left"),
        ("OBIS", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("capture time", "left"),
        ("quality", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in readings:
        captured = r.capture_time.isoformat(timespec="seconds") if r.capture_time else "-"
        table.add_row(
            r.meter_id, r.obis, value_text(r.value), r.unit or "", captured, r.quality.value
        )
    return table


def print_failures(reports: Sequence[MeterReport], err: TextIO = sys.stderr) -> int:
    """One line per failed value: `meter OBIS: reason`. Returns how many."""
    count = 0
    for report in reports:
        for failure in report.failures:
            err.write(f"{report.meter_id} {failure.obis}: {failure.reason}\n")
            count += 1
        if report.status is MeterStatus.FAILED and not report.failures:
            err.write(f"{report.meter_id} -: {report.error or 'failed'}\n")
            count += 1
    err.flush()
    return count


_STYLE = {MeterStatus.OK: "green", MeterStatus.PARTIAL: "yellow", MeterStatus.FAILED: "red"}


def summary_table(report: RunReport, title: str) -> Table:
    table = Table(title=title)
    table.add_column("meters")
    table.add_column("ok", justify="right", style="green")
    table.add_column("partial", justify="right", style="yellow")
    table.add_column("failed", justify="right", style="red")
    table.add_column("values read", justify="right")
    table.add_column("readings stored", justify="right")
    table.add_column("duration", justify="right")
    table.add_row(
        str(len(report.meters)),
        str(report.count(MeterStatus.OK)),
        str(report.count(MeterStatus.PARTIAL)),
        str(report.count(MeterStatus.FAILED)),
        str(report.readings),
        str(report.stored),
        f"{report.duration_s:.1f} s",
    )
    return table


def protocols_table(report: RunReport, protocols: Mapping[str, str]) -> Table:
    """Meters ok / partial / failed and values read per protocol (`protocols`: meter -> name)."""
    table = Table(title="per protocol")
    table.add_column("protocol")
    table.add_column("meters", justify="right")
    table.add_column("ok", justify="right", style="green")
    table.add_column("partial", justify="right", style="yellow")
    table.add_column("failed", justify="right", style="red")
    table.add_column("values read", justify="right")
    names = list(dict.fromkeys(protocols.get(m.meter_id, "?") for m in report.meters))
    for name in names:
        mine = [m for m in report.meters if protocols.get(m.meter_id, "?") == name]
        table.add_row(
            name,
            str(len(mine)),
            *(str(sum(1 for m in mine if m.status is s)) for s in MeterStatus),
            str(sum(m.readings for m in mine)),
        )
    return table


def meters_table(report: RunReport) -> Table:
    table = Table(title="per meter")
    for column in ("meter", "channel", "status", "values", "skipped", "attempts", "reason"):
        table.add_column(column)
    for m in report.meters:
        table.add_row(
            m.meter_id,
            m.channel_id,
            f"[{_STYLE[m.status]}]{m.status.value}[/]",
            str(m.readings),
            str(len(m.skipped)),
            str(m.attempts),
            m.error or (m.failures[0].reason if m.failures else ""),
        )
    return table


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit with status 1; `main` turns this into the quiet exit every command has
        self.quiet = True
        raise BrokenPipeError


def console(err: bool = False) -> Console:
    # Piped into a file or a log, rich would fold tables at 80 columns and hide endpoints and
    # reasons behind ellipses; a terminal keeps its own width.
    stream = sys.stderr if err else sys.stdout
    width = None if stream.isatty() else 200
    return _Console(stderr=err, highlight=False, width=width)

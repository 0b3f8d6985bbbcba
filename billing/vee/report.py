"""The VEE report of one meter and period: what was found, what was estimated and why, as the
`VeeReport` model and as lines a person reads (the bill run's summary, an operator's check)."""

from __future__ import annotations

from decimal import Decimal

from billing.determinants.model import Determinants
from billing.vee.model import Flag, VeeReport


def report_of(det: Determinants) -> VeeReport:
    """The findings of `det` and the import energy that is an estimate."""
    return VeeReport(det.meter_id, det.findings, det.estimated_kwh)


def report_lines(report: VeeReport) -> list[str]:
    """One line per finding (meter, register, span, rule, flag, detail), then the estimated
    energy; a meter with nothing found gives one line saying so."""
    lines = [
        f"{f.meter_id} {f.obis} {f.start.isoformat()}..{f.end.isoformat()} {f.rule} "
        f"({f.flag.value}): {f.detail}"
        for f in report.findings
    ]
    if not lines:
        return [f"{report.meter_id}: all values actual, nothing estimated"]
    if report.estimated_kwh != Decimal(0) or report.flag is not Flag.ACTUAL:
        lines.append(
            f"{report.meter_id}: {report.estimated_kwh} kWh of import estimated; "
            f"worst quality {report.flag.value}"
        )
    return lines

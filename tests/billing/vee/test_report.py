"""The VEE report says what was estimated and why, per meter and register."""

from __future__ import annotations

from billing.vee.model import Flag
from billing.vee.report import report_lines, report_of
from tests.billing.determinants.meter_data import DAY1, IMPORT, D, cumulative, run


def test_report_lists_the_gap_and_its_estimate() -> None:
    # captures 41 and 42 lost: intervals 10:00-10:45 interpolated, advance 3 x 0.2 = 0.6 kWh
    det = run(
        {IMPORT: cumulative(DAY1, D("1.000"), [D("0.200")] * 96, missing=[41, 42])}, flat=True
    )
    report = report_of(det)
    assert report.meter_id == "m1" and report.estimated_kwh == D("0.600")
    assert report.flag is Flag.ESTIMATED
    lines = report_lines(report)
    assert lines[0].startswith(
        "m1 1.0.1.8.0.255 2026-10-01T10:00:00+00:00..2026-10-01T10:45:00+00:00 gap (estimated)"
    )
    assert "linear-interpolation (estimated): advance 0.600 kWh spread evenly" in lines[1]
    assert lines[-1] == "m1: 0.600 kWh of import estimated; worst quality estimated"


def test_clean_meter_reports_nothing_estimated() -> None:
    det = run({IMPORT: cumulative(DAY1, D("1"), [D("0.1")] * 96)}, flat=True)
    assert report_lines(report_of(det)) == ["m1: all values actual, nothing estimated"]

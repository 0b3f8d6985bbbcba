"""The per-channel table of `headend collect` stays readable for a fleet of one channel per
meter: failing channels first, the rest summed up in one row, totals exact."""

from __future__ import annotations

from datetime import UTC, datetime

from headend.cli.collect import channels_table
from headend.reading import MeterReport, MeterStatus, RunReport


def report(channels: int, failing: set[int]) -> RunReport:
    meters = [
        MeterReport(
            meter_id=f"m{i}",
            channel_id=f"gprs-{i:03d}",
            status=MeterStatus.FAILED if i in failing else MeterStatus.OK,
            readings=0 if i in failing else 7,
            cause="timeout" if i in failing else None,
        )
        for i in range(channels)
    ]
    return RunReport(plan="p", started_at=datetime.now(UTC), duration_s=1.0, meters=meters)


def cells(table, column: int) -> list[str]:
    return [str(cell) for cell in table.columns[column]._cells]


def test_many_channels_list_the_failing_first_and_sum_up_the_rest():
    table = channels_table(report(100, {17, 55, 98}), "t", max_rows=10)
    names = cells(table, 0)
    assert len(names) == 10 + 2  # ten channels, one summing up the other 90, the total
    assert names[:3] == ["gprs-017", "gprs-055", "gprs-098"]
    assert names[-2:] == ["90 more channels", "total"]
    # the last two rows (the other 90 channels, the total): meters, then meters ok
    assert cells(table, 1)[-2:] == ["90", "100"]
    assert cells(table, 2)[-2:] == ["90", "97"]
    assert cells(table, 5)[-1] == "timeout 3"
    assert cells(table, 6)[-1] == str(97 * 7)


def test_few_channels_are_all_listed_in_fleet_order():
    table = channels_table(report(5, {3}), "t", max_rows=10)
    assert cells(table, 0) == ["gprs-000", "gprs-001", "gprs-002", "gprs-003", "gprs-004", "total"]

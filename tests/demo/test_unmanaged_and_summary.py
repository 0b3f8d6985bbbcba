"""The demo's "without load management" curve against the simulated feeder meters, and the
summary's arithmetic on hand-made cycle records and commands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.config import load_config
from headend.config.load import LoadSettings
from headend.demo.plot import write_plot
from headend.demo.summary import collection, command_counts, feeder_summaries
from headend.demo.unmanaged import unmanaged_kw
from headend.load.metrics import LoadCycle
from headend.runs.model import RunStats
from headend.simulation.fleet import simulated_fleet
from headend.simulation.generator import FleetShape, generate, to_toml
from headend.simulation.grid import GridShape, add_grid

DAY = date(2026, 11, 30)


async def test_the_unmanaged_curve_is_what_the_feeder_meters_measure_unlimited(
    tmp_path: Path,
) -> None:
    data = generate(FleetShape(meters=50, modbus_gateways=1, units_per_gateway=8, gprs_port=0))
    add_grid(data, GridShape(feeders=2, pv_share=0.4), "127.0.0.1", DAY)
    path = tmp_path / "grid.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    config = load_config(path)
    assert config.fleet.load is not None
    times = [datetime(2026, 11, 30, h, m, tzinfo=UTC) for h, m in ((7, 30), (12, 0), (19, 5))]
    curves = unmanaged_kw(config.fleet, times)
    async with simulated_fleet(config) as (sim, _served):
        for feeder in config.fleet.load.feeders:
            meter = sim.meters[feeder.meter]
            for at, expected_kw in zip(times, curves[feeder.id], strict=True):
                imported, exported = meter.power_at(at)
                assert (imported - exported) / 1000 == pytest.approx(expected_kw, rel=1e-9)
    # at noon the PV households export: the curve counts it against the load
    noon_pv = [c[1] for c in curves.values()]
    assert all(v < c[2] for v, c in zip(noon_pv, curves.values(), strict=True))


def _cycle(feeder: str, minute: int, load_kw: float | None, **fields: object) -> LoadCycle:
    at = datetime(2026, 11, 30, 18, tzinfo=UTC) + timedelta(minutes=minute)
    values: dict[str, object] = {
        "feeder": feeder,
        "at": at,
        "load_kw": load_kw,
        "capacity_kw": 90.0,
        "forecast_kw": load_kw or 0.0,
        "overloaded": load_kw is not None and load_kw > 90.0,
    }
    values.update(fields)
    return LoadCycle.model_validate(values)


def _settings() -> LoadSettings:
    return LoadSettings.model_validate(
        {
            "feeders": [
                {
                    "id": "f1",
                    "capacity_kw": 100,
                    "margin": 0.1,
                    "meter": "fm1",
                    "households": ["a", "b"],
                },
                {
                    "id": "f2",
                    "capacity_kw": 100,
                    "margin": 0.1,
                    "meter": "fm2",
                    "households": ["c"],
                },
            ],
            "demand_response": [
                {
                    "id": "dr",
                    "feeder": "f2",
                    "start": "2026-11-30T18:00:00Z",
                    "end": "2026-11-30T18:10:00Z",
                    "reduction_kw": 5,
                }
            ],
        }
    )


def test_feeder_summaries() -> None:
    settings = _settings()
    cycles = [
        _cycle("f1", 0, 95.0, overload_s=0, served_kwh=7.5, demanded_kwh=7.5),
        _cycle(
            "f1", 5, 88.0, overload_s=300, served_kwh=7.4, demanded_kwh=8.0, fairness=0.9, limited=2
        ),
        _cycle("f1", 10, None, served_kwh=0, demanded_kwh=0, fairness=1.0, limited=1),
        _cycle("f2", 0, 50.0),
    ]
    unmanaged = {"f1": [95.0, 99.0, 92.0, 80.0], "f2": [50.0, 51.0, 52.0, 53.0]}

    class _Fleet:
        load = settings

    f1, f2 = feeder_summaries(_Fleet(), cycles, unmanaged)  # type: ignore[arg-type]
    assert (f1.feeder, f1.households, f1.usable_kw) == ("f1", 2, 90.0)
    assert f1.peak_unmanaged_kw == 99.0 and f1.peak_measured_kw == 95.0
    assert f1.overload_min_unmanaged == 15  # three 5-minute cycle intervals above 90 kW
    assert f1.overload_min_measured == 5
    assert (f1.served_kwh, f1.demanded_kwh) == (14.9, 15.5)
    assert f1.served_share == pytest.approx(14.9 / 15.5)
    assert f1.fairness == pytest.approx(0.95) and f1.most_limited == 2
    assert f1.demand_response is None
    assert f2.demand_response == "dr" and f2.overload_min_unmanaged == 0
    assert f2.fairness is None and f2.served_share is None


def _command(n: int, action: CommandAction, state: CommandState, requester: str) -> CommandRecord:
    at = datetime(2026, 11, 30, 18, tzinfo=UTC)
    return CommandRecord(
        id=f"c{n}",
        meter=f"m{n}",
        action=action,
        limit_w=Decimal(1000) if action is CommandAction.LIMIT else None,
        reason="test",
        requester=requester,
        state=state,
        created_at=at,
        updated_at=at,
    )


def test_command_counts_are_the_load_managers_by_action() -> None:
    records = [
        _command(1, CommandAction.LIMIT, CommandState.CONFIRMED, "load-manager"),
        _command(2, CommandAction.LIMIT, CommandState.FAILED, "load-manager"),
        _command(3, CommandAction.LIMIT, CommandState.SENT, "load-manager"),
        _command(4, CommandAction.RELEASE, CommandState.CONFIRMED, "load-manager"),
        _command(5, CommandAction.DISCONNECT, CommandState.CONFIRMED, "operator"),
    ]
    counts = command_counts(records)
    assert set(counts) == {"limit", "release"}
    limit = counts["limit"]
    assert (limit.sent, limit.confirmed, limit.failed, limit.open) == (3, 1, 1, 1)
    assert counts["release"].confirmed == 1


def test_collection_sums_the_usage_runs() -> None:
    at = datetime(2026, 11, 30, 18, tzinfo=UTC)

    def run(plan: str, attempted: int, ok: int, partial: int) -> RunStats:
        return RunStats(
            run_id=f"{plan}{attempted}",
            plan=plan,
            started_at=at,
            duration_s=1,
            attempted=attempted,
            ok=ok,
            partial=partial,
            failed=attempted - ok - partial,
        )

    result = collection(
        "usage", [run("usage", 10, 8, 1), run("usage", 10, 10, 0), run("daily", 10, 0, 0)]
    )
    assert (result.runs, result.attempted, result.collected) == (2, 20, 19)
    assert result.rate == pytest.approx(0.95)


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    settings = _settings()
    cycles = [_cycle("f1", m, 80.0 + m, limited=m, limit_kw_total=m * 2.0) for m in (0, 5, 10)]
    times = [datetime(2026, 11, 30, 18, tzinfo=UTC) + timedelta(minutes=m) for m in (0, 5, 10)]
    path = write_plot(
        tmp_path / "p" / "plot.png",
        settings,
        cycles,
        {"f1": [80.0, 95.0, 99.0], "f2": [50.0, 51.0, 52.0]},
        {"f1": times, "f2": times},
        "test",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""Smoke test of bench/load_allocation.py at a tiny size: the JSON line's fields, and figures that
agree with each other and with what the load model says independently (never their speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import load_model
from bench.load_allocation import main

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "households",
    "alloc_ms",
    "alloc_ms_100k",
    "cycles_to_clear",
    "served_vs_optimum",
    "fairness",
    "proportional_fairness",
    "limit_changes_per_household_hour",
}


def test_last_line_is_the_json_of_the_figures() -> None:
    command = [sys.executable, "-m", "bench.load_allocation", "--households", "300"]
    command += ["--feeders", "2", "--cycles", "3", "--large", "600"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=110,
    )
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert FIELDS <= set(figures)
    assert figures["households"] == 300
    assert figures["alloc_households_large"] == 600
    assert "served vs optimum" in done.stdout  # the readable table comes first


def test_figures_agree_with_each_other() -> None:
    f = main(households=400, feeders=2, seed=3, cycles=3, large=500)
    hours = load_model.MINUTES / 60
    assert f["feeder_households"] == 200  # contiguous halves
    assert f["limit_changes_per_household_hour"] == pytest.approx(
        f["limit_changes"] / (f["feeder_households"] * hours), abs=1e-3
    )
    # the demo's first feeder is overloaded by design, and the manager limited someone
    assert f["unmanaged_minutes_over_usable"] > 0 and f["limited_households"] > 0
    assert f["unmanaged_peak_kw"] > f["usable_kw"] and f["usable_kw"] < f["capacity_kw"]
    # what is served is at most what is demanded; the optimum is the most that can be
    assert f["served_kwh"] <= f["demanded_kwh"] + 1e-6
    assert f["optimum_served_kwh"] <= f["demanded_kwh"] + 1e-6
    assert f["proportional_served_kwh"] <= f["optimum_served_kwh"] * (1 + 1e-6)
    assert f["served_vs_optimum"] == pytest.approx(
        f["served_kwh"] / f["optimum_served_kwh"], abs=1e-4
    )
    if f["managed_minutes_over_usable"] == 0:
        assert f["served_vs_optimum"] <= 1 + 1e-4
    assert f["managed_peak_kw"] <= f["unmanaged_peak_kw"]
    assert 0 < f["fairness"] <= 1 and 0 < f["proportional_fairness"] <= 1
    # the capacity is above the usable capacity, so the load passes the usable one first
    assert f["first_over_usable"] <= f["first_overload"]  # "HH:MM" strings order as times
    for key in ("cycles_to_clear", "cycles_to_clear_managed", "cycles_to_clear_usable"):
        assert f[key] is None or f[key] >= 0
    if f["managed_minutes_over_capacity"] == 0:
        assert f["cycles_to_clear_managed"] == 0
    if f["managed_minutes_over_usable"] == 0:
        assert f["cycles_to_clear_usable"] == 0


def test_optimum_is_the_closed_form_of_its_linear_program() -> None:
    """Each minute is its own problem with one constraint: the optimum serves every import up to
    the room (usable capacity + PV export), so the LP must give min(import, room) summed."""
    grid = load_model.build_grid(400, 2, seed=5)
    members = grid.members(0)
    net = load_model.net_kw([grid.profiles[i] for i in members], 0, load_model.MINUTES)
    imported = np.clip(net, 0, None).sum(axis=0)
    room = grid.usable_kw[0] + np.clip(-net, 0, None).sum(axis=0)
    expected = float(np.minimum(imported, room).sum()) / 60
    assert load_model.optimum_served_kwh(grid, 0, net) == pytest.approx(expected, rel=1e-6)
    # proportional curtailment fills the same room exactly: the same energy, all fractions equal
    share = load_model.proportional(grid, 0, net)
    assert load_model.served_kwh(share) == pytest.approx(expected, rel=1e-9)
    assert (share.sum(axis=0) <= room - np.clip(-net, 0, None).sum(axis=0) + 1e-9).all()


def test_the_managed_feeder_stays_within_its_capacity() -> None:
    grid = load_model.build_grid(400, 2, seed=5)
    members = grid.members(0)
    net = load_model.net_kw(
        [grid.profiles[i] for i in members], -load_model.CYCLE_MIN, load_model.MINUTES + 5
    )
    run = load_model.managed(grid, 0, net)
    load = run.drawn_kw.sum(axis=0)
    assert (net[:, load_model.CYCLE_MIN :].sum(axis=0) > grid.usable_kw[0]).any()
    assert load.max() <= grid.capacity_kw[0]
    # limited households never draw more than their demand, and priority ones draw it all
    assert (run.drawn_kw <= net[:, load_model.CYCLE_MIN :] + 1e-12).all()
    priority = grid.priority[members]
    assert np.array_equal(run.drawn_kw[priority], net[priority, load_model.CYCLE_MIN :])

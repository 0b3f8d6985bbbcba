"""The demo's evening at model level, for bench/load_allocation.py: households, feeders, 1-minute
physics, a managed run through the load manager's FeederController, and two references
(proportional curtailment, the linear-programming optimum).

Households are the demo's: `headend.simulation.grid.household_profile(seed, i, pv_share)` for
household i (the simulator's own load model), the demo's PV and priority shares and its rule for
which households are medical, the first feeder's capacity worked out as the demo does (its evening
peak over usable capacity = `GridShape.overload`), the others with the demo's headroom. Households
sit on feeders in contiguous blocks (the demo deals whole channels out; a block is the model-level
equivalent). Every household has a limiter here: the DL/T 645 relays of the demo, which can only
be disconnected, are a protocol detail the allocation benchmark leaves out.

Physics: each household's net power (import positive, PV export negative) is sampled at the start
of every minute; a limit caps the net power as the simulated meter's limiter does (min(net,
limit)). The controller runs every `CYCLE_MIN` minutes on what the meters measured over the last
cycle (each household's mean net use, the feeder meter's mean load) and its limits hold for the
whole next cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linprog

from drivers.sim.consumption import HouseholdProfile
from headend.config.load import FeederSettings, HouseholdSettings, LoadSettings, PriorityClass
from headend.load.controller import FeederController
from headend.load.fairness import jain_index
from headend.simulation.grid import GridShape, evening_hours, household_profile, unmanaged_peak_kw

Array = npt.NDArray[np.float64]

CYCLE_MIN = 5
START_HOUR = 16.0
MINUTES = 8 * 60  # 16:00 to 24:00
EVENING_START = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Grid:
    """Households (profiles, priority) and the feeders they sit on, as the demo lays them out."""

    profiles: list[HouseholdProfile]
    priority: npt.NDArray[np.bool_]
    feeder_of: npt.NDArray[np.int64]
    capacity_kw: list[float]
    usable_kw: list[float]

    @property
    def households(self) -> int:
        return len(self.profiles)

    def members(self, feeder: int) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.feeder_of == feeder)


def build_grid(households: int, feeders: int, seed: int, shape: GridShape | None = None) -> Grid:
    shape = shape or GridShape(feeders=feeders)
    profiles = [household_profile(seed, i, shape.pv_share) for i in range(households)]
    every = round(1 / shape.priority_share) if shape.priority_share else 0
    priority = np.array([bool(every) and i % every == every // 2 for i in range(households)])
    feeders = max(1, min(feeders, households))
    feeder_of = np.arange(households, dtype=np.int64) * feeders // households
    hours = evening_hours(shape)
    capacity: list[float] = []
    usable: list[float] = []
    for f in range(feeders):
        peak = unmanaged_peak_kw([profiles[i] for i in np.flatnonzero(feeder_of == f)], hours)
        use = peak / shape.overload if f == 0 else peak * shape.headroom
        capacity.append(use / (1 - shape.margin))
        usable.append(use)
    return Grid(profiles, priority, feeder_of, capacity, usable)


def net_kw(profiles: list[HouseholdProfile], first_minute: int, minutes: int) -> Array:
    """Net power (kW) of each household at the start of each minute from 16:00 + first_minute:
    the simulator's `net_at`, vectorised (households x minutes)."""
    hour = START_HOUR + (first_minute + np.arange(minutes)) / 60.0
    base = np.array([p.base_w for p in profiles])[:, None]
    morning = np.array([p.morning_peak_w for p in profiles])[:, None]
    evening = np.array([p.evening_peak_w for p in profiles])[:, None]
    pv = np.array([p.pv_peak_w for p in profiles])[:, None]
    sun = np.where((hour > 6) & (hour < 18), np.sin(np.pi * (hour - 6) / 12), 0.0)
    net: Array = (
        base
        + morning * np.exp(-(((hour - 7.5) / 1.2) ** 2))
        + evening * np.exp(-(((hour - 19.0) / 2.0) ** 2))
        - pv * sun
    )
    return net / 1000.0


@dataclass
class Run:
    """One feeder through the evening: what it drew each minute, and the limits' history."""

    drawn_kw: Array  # households x minutes, net (PV export negative)
    changes: int = 0  # limits set, changed or released, summed over households
    kinds: dict[str, int] = field(
        default_factory=lambda: {"limit": 0, "renew": 0, "release": 0, "disconnect": 0}
    )
    """Commands sent, by action (a limit is set or changed, a renewal keeps it)."""
    limited_households: int = 0  # households limited at least once
    cycle_load_kw: list[float] = field(default_factory=list)  # feeder meter, mean per cycle


def settings(grid: Grid, feeder: int, shape: GridShape | None = None) -> LoadSettings:
    """The `[load]` section the demo would write for this feeder: its capacity and margin, its
    households (medical ones protected), every other knob at its default."""
    shape = shape or GridShape()
    members = grid.members(feeder)
    ids = [household_id(i) for i in members]
    return LoadSettings(
        feeders=[
            FeederSettings(
                id=f"feeder-{feeder + 1}",
                capacity_kw=grid.capacity_kw[feeder],
                margin=shape.margin,
                meter=f"feeder-meter-{feeder + 1}",
                households=ids,
            )
        ],
        households={
            household_id(i): HouseholdSettings(priority=PriorityClass.MEDICAL)
            for i in members
            if grid.priority[i]
        },
    )


def household_id(index: int) -> str:
    return f"h{index:06d}"


def managed(grid: Grid, feeder: int, net: Array, switch_on_above_kw: float | None = None) -> Run:
    """The feeder through the evening under the load manager: the head-end's FeederController
    (headend/load/controller.py) with the `[load]` section's defaults, stepped every cycle on the
    feeder meter's mean load over the last cycle and each household's mean net use over it; the
    limits in force after its step cap each household's net power over the next cycle (every
    command is taken to succeed at once: the protocols are not modelled here).

    `switch_on_above_kw`: the head-end is started (no history) only at the first cycle whose
    feeder meter shows a minute above this load, so that it has a real overload to clear;
    otherwise it runs from 16:00 and its forecast is to keep the overload from happening."""
    load = settings(grid, feeder)
    controller = FeederController(load.feeders[0], load)
    ids = load.feeders[0].households
    n, minutes = net.shape[0], net.shape[1] - CYCLE_MIN
    drawn = np.empty((n, minutes))
    limit = np.full(n, np.inf)
    limited_ever = np.zeros(n, dtype=bool)
    run = Run(drawn)
    # The interval before 16:00, unlimited: what the first cycle measures.
    last = net[:, :CYCLE_MIN]
    for k in range(minutes // CYCLE_MIN):
        span = slice(k * CYCLE_MIN, (k + 1) * CYCLE_MIN)
        now = net[:, CYCLE_MIN + k * CYCLE_MIN : CYCLE_MIN + (k + 1) * CYCLE_MIN]
        feeder_load = last.sum(axis=0)
        run.cycle_load_kw.append(float(feeder_load.mean()))
        if switch_on_above_kw is not None and float(feeder_load.max()) <= switch_on_above_kw:
            drawn[:, span] = now
            last = now
            continue
        switch_on_above_kw = None
        at = EVENING_START + timedelta(minutes=k * CYCLE_MIN)
        usage = dict(zip(ids, last.mean(axis=1).tolist(), strict=True))
        decision = controller.step(at, float(feeder_load.mean()), usage)
        run.changes += decision.cycle.limit_changes
        for command in decision.commands:
            if command.action in run.kinds:
                run.kinds[command.action] += 1
        new = np.array([decision.limits_w.get(h, math.inf) for h in ids], dtype=float) / 1000
        limit = new
        limited_ever |= np.isfinite(limit)
        drawn[:, span] = np.minimum(now, limit[:, None])
        last = drawn[:, span]
    run.limited_households = int(limited_ever.sum())
    return run


def clearing(load_kw: Array, unmanaged_kw: Array, limit_kw: float) -> tuple[int | None, int | None]:
    """(first overload cycle, cycles to clear it) against `limit_kw`.

    The first overload is the first cycle in which the unmanaged feeder (the same households
    without limits) would have a minute above the limit: the overload the manager has to clear,
    or prevent. Cycles to clear: from that cycle, how many cycles pass until the managed feeder
    spends a whole cycle within the limit (0: it never went above; None: never cleared)."""
    cycles = len(load_kw) // CYCLE_MIN

    def above(series: Array, k: int) -> bool:
        return bool((series[k * CYCLE_MIN : (k + 1) * CYCLE_MIN] > limit_kw * (1 + 1e-9)).any())

    first = next((k for k in range(cycles) if above(unmanaged_kw, k)), None)
    if first is None:
        return None, None
    cleared = next((k for k in range(first, cycles) if not above(load_kw, k)), None)
    return first, None if cleared is None else cleared - first


def proportional(grid: Grid, feeder: int, net: Array) -> Array:
    """Plain proportional curtailment with perfect knowledge: each minute every non-priority
    household draws the same fraction of its import, the largest that keeps the feeder within its
    usable capacity (PV export still counts against the load; priority households draw in full)."""
    priority = grid.priority[grid.members(feeder)][:, None]
    imported = np.clip(net, 0, None)
    room = grid.usable_kw[feeder] + np.clip(-net, 0, None).sum(axis=0)
    room -= np.where(priority, imported, 0).sum(axis=0)
    wanted = np.where(priority, 0, imported).sum(axis=0)
    fraction = np.clip(np.divide(room, wanted, out=np.ones_like(room), where=wanted > 0), 0, 1)
    return np.where(priority, net, np.where(net > 0, net * fraction, net))


def optimum_served_kwh(grid: Grid, feeder: int, net: Array) -> float:
    """The most import energy the feeder could serve within its usable capacity: a linear program
    (HiGHS) over the served power of each household in each minute, 0..its import (priority
    households at their import), the sum in each minute at most the usable capacity plus that
    minute's PV export; maximise the total.

    Minutes whose whole import fits serve it all (their variables sit at their upper bounds), so
    the program is posed over the other minutes only: the same optimum, a fraction of the memory
    (10,000 households x 480 minutes as variables take over 1 GiB in HiGHS)."""
    priority = grid.priority[grid.members(feeder)]
    imported = np.clip(net, 0, None)
    room = grid.usable_kw[feeder] + np.clip(-net, 0, None).sum(axis=0)
    tight = imported.sum(axis=0) > room
    free_kwh = float(imported[:, ~tight].sum()) / 60.0
    if not tight.any():
        return free_kwh
    upper_2d = imported[:, tight]
    n, minutes = upper_2d.shape
    upper = upper_2d.ravel()  # variable i * minutes + m
    lower = np.where(priority[:, None], upper_2d, 0).ravel()
    rows = np.tile(np.arange(minutes), n)
    a = sparse.csr_matrix((np.ones(n * minutes), (rows, np.arange(n * minutes))))
    result = linprog(
        -np.ones(n * minutes),
        A_ub=a,
        b_ub=room[tight],
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"the optimum's linear program failed: {result.message}")
    return free_kwh + float(-result.fun) / 60.0


def served_kwh(drawn: Array) -> float:
    """Import energy (kWh) of 1-minute samples (kW)."""
    return float(np.clip(drawn, 0, None).sum()) / 60.0


def fairness(grid: Grid, feeder: int, net: Array, drawn: Array) -> float:
    """Jain's index of the evening's served ratios (import energy served / demanded) of the
    feeder's non-priority households with a demand: how evenly the curtailment was shared."""
    wanted = np.clip(net, 0, None).sum(axis=1)
    got = np.clip(drawn, 0, None).sum(axis=1)
    keep = ~grid.priority[grid.members(feeder)] & (wanted > 0)
    return jain_index((got[keep] / wanted[keep]).tolist())


@dataclass(frozen=True)
class Evening:
    """The overloaded feeder's evening: managed, proportional and optimum."""

    households: int
    feeder_households: int
    capacity_kw: float
    usable_kw: float
    unmanaged_peak_kw: float
    managed_peak_kw: float
    demanded_kwh: float
    served_kwh: float
    proportional_served_kwh: float
    optimum_served_kwh: float
    fairness: float
    proportional_fairness: float
    first_overload_cycle: int | None
    """The first cycle the unmanaged feeder has a minute above its (nameplate) capacity."""
    cycles_to_clear: int | None
    """Started late (at the first overload, no history): cycles until back under capacity."""
    cycles_to_clear_managed: int | None
    """Running all evening: the same count (0: the overload never happened)."""
    first_over_usable_cycle: int | None
    cycles_to_clear_usable: int | None
    """Running all evening, against the usable capacity (capacity less the safety margin)."""
    late_minutes_over_usable: int
    late_minutes_over_capacity: int
    unmanaged_minutes_over_usable: int
    unmanaged_minutes_over_capacity: int
    managed_minutes_over_usable: int
    managed_minutes_over_capacity: int
    limit_changes: int
    limited_households: int

    @property
    def served_vs_optimum(self) -> float:
        return self.served_kwh / self.optimum_served_kwh

    @property
    def limit_changes_per_household_hour(self) -> float:
        return self.limit_changes / (self.feeder_households * MINUTES / 60)


def evening(households: int, feeders: int, seed: int) -> Evening:
    """The demo's evening on its overloaded feeder (the first): the other feeders have headroom
    over their own peaks, so the manager never limits there and they are not simulated."""
    grid = build_grid(households, feeders, seed)
    members = grid.members(0)
    profiles = [grid.profiles[i] for i in members]
    # one cycle before 16:00: what the first control cycle measures
    net = net_kw(profiles, -CYCLE_MIN, MINUTES + CYCLE_MIN)
    usable, capacity = grid.usable_kw[0], grid.capacity_kw[0]
    run = managed(grid, 0, net)
    late = managed(grid, 0, net, switch_on_above_kw=capacity)
    net = net[:, CYCLE_MIN:]
    load = run.drawn_kw.sum(axis=0)
    late_load = late.drawn_kw.sum(axis=0)
    unmanaged = net.sum(axis=0)
    share = proportional(grid, 0, net)
    first, late_clear = clearing(late_load, unmanaged, capacity)
    _, managed_clear = clearing(load, unmanaged, capacity)
    first_usable, usable_clear = clearing(load, unmanaged, usable)
    return Evening(
        households=households,
        feeder_households=len(members),
        capacity_kw=capacity,
        usable_kw=usable,
        unmanaged_peak_kw=float(unmanaged.max()),
        managed_peak_kw=float(load.max()),
        demanded_kwh=served_kwh(net),
        served_kwh=served_kwh(run.drawn_kw),
        proportional_served_kwh=served_kwh(share),
        optimum_served_kwh=optimum_served_kwh(grid, 0, net),
        fairness=fairness(grid, 0, net, run.drawn_kw),
        proportional_fairness=fairness(grid, 0, net, share),
        first_overload_cycle=first,
        cycles_to_clear=late_clear,
        cycles_to_clear_managed=managed_clear,
        first_over_usable_cycle=first_usable,
        cycles_to_clear_usable=usable_clear,
        late_minutes_over_usable=int((late_load > usable * (1 + 1e-9)).sum()),
        late_minutes_over_capacity=int((late_load > capacity).sum()),
        unmanaged_minutes_over_usable=int((unmanaged > usable).sum()),
        unmanaged_minutes_over_capacity=int((unmanaged > capacity).sum()),
        managed_minutes_over_usable=int((load > usable * (1 + 1e-9)).sum()),
        managed_minutes_over_capacity=int((load > capacity).sum()),
        limit_changes=run.changes,
        limited_households=run.limited_households,
    )

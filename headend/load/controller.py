"""One feeder's control cycle, sans-IO: measured load and households' recent use in, the commands
to send and the cycle's record out.

Each `step`: forecast the feeder's next interval from its meter, estimate each household's demand
(censored upwards where a limit holds it), lower the caps of households inside a demand-response
window, allocate the usable capacity by weighted max-min fairness, smooth the limits (cut at
once, ramp up slowly), and turn the difference with what is in force into commands: a limit
where it binds (as a lease, renewed while needed), a release when it no longer does, a
disconnection only for households without a limiter and only as the last resort, and their
reconnection once the allocation has not needed it for `hold_cycles` cycles.

The commands and the record it returns are in `decision.py`, the words it gives its reasons in
`explain.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from headend.config.load import DemandResponseEvent, FeederSettings, LoadSettings
from headend.load.allocation import Allocation, Feeder, Household, allocate
from headend.load.decision import CycleDecision, HouseholdCommand
from headend.load.demand_response import EventBook, Reduction
from headend.load.explain import cycle_report, infeasibility, limit_reason
from headend.load.fairness import curtailment_fairness
from headend.load.forecast import FeederForecast, estimate_demands, pressing
from headend.load.hysteresis import Smoother
from headend.load.leases import LeaseAction, LeaseBook
from headend.load.metrics import Interval, LoadCycle


@dataclass(frozen=True, slots=True)
class _Profile:
    min_kw: float
    max_kw: float
    protected: bool
    limiter: bool
    weight: float


class FeederController:
    """The control state of one feeder; `step` once per control cycle."""

    def __init__(
        self,
        feeder: FeederSettings,
        settings: LoadSettings,
        *,
        other_load_kw: float = 0.0,
        limit_step_w: int | None = None,
    ) -> None:
        self.feeder = feeder
        self.settings = settings
        self.other_load_kw = other_load_kw
        self.limit_step_w = settings.limit_step_w if limit_step_w is None else limit_step_w
        self._model = Feeder(
            id=feeder.id, capacity_kw=feeder.capacity_kw, margin_kw=feeder.margin_kw
        )
        self._profiles: dict[str, _Profile] = {}
        for household in feeder.households:
            override = settings.household(household)
            max_kw = settings.max_w(household) / 1000
            self._profiles[household] = _Profile(
                min_kw=min(settings.min_w(household) / 1000, max_kw),
                max_kw=max_kw,
                protected=override.priority.protected,
                limiter=override.limiter,
                weight=override.weight,
            )
        self._smoother = Smoother(
            settings.ramp_up_kw_per_cycle, settings.hold_cycles, step_kw=self.limit_step_w / 1000
        )
        self._leases = LeaseBook(settings.lease)
        self._events = EventBook()
        self._pending_notices = self._apply(settings.demand_response)
        self._forecast = FeederForecast()
        self._disconnected: dict[str, float] = {}
        """Household -> its demand when it was cut, kW (it draws nothing now)."""
        self._unneeded: dict[str, int] = {}
        """Disconnected household -> cycles in a row the allocation would have kept it on."""
        self._baselines: dict[str, float] = {}
        self._free_demand: dict[str, float] = {}
        """Household -> its demand estimate when last seen not pressing on a limit."""
        self._interval = Interval(self._model.usable_kw)
        self._was_infeasible = False

    @property
    def usable_kw(self) -> float:
        return self._model.usable_kw

    def eligible(self, household: str) -> bool:
        """Whether a demand-response share can be asked of the household: it can be limited."""
        profile = self._profiles.get(household)
        if profile is not None:
            return profile.limiter and not profile.protected
        # A group's household on another feeder: judged by the settings alone.
        override = self.settings.household(household)
        return override.limiter and not override.priority.protected

    def command_failed(self, household: str, action: str) -> None:
        """A command did not take effect: forget it so the next cycle decides again."""
        if action in ("limit", "renew"):
            self._leases.forget(household)
        elif action == "disconnect":
            self._disconnected.pop(household, None)
            self._unneeded.pop(household, None)

    def _apply(self, events: Iterable[DemandResponseEvent]) -> list[str]:
        """Record event versions; the changes to say are those of events that concern this
        feeder (every controller sees every event)."""
        said = []
        for event in events:
            change = self._events.apply(event)
            if change is None:
                continue
            if event.feeder == self.feeder.id or any(
                h in self._profiles for h in event.households or ()
            ):
                said.append(change)
        return said

    def assume_disconnected(self, household: str, demand_kw: float) -> None:
        """A household disconnected for load before this controller started (an earlier run of
        the head-end): reconnected like the others once the feeder has room for `demand_kw`.
        Without this a restart would leave it off: a disconnection, unlike a limit, has no
        lease."""
        if household not in self._profiles:
            raise KeyError(household)
        self._disconnected[household] = max(0.0, demand_kw)

    def step(
        self,
        now: datetime,
        feeder_load_kw: float | None,
        usage: Mapping[str, float],
        events: Iterable[DemandResponseEvent] = (),
    ) -> CycleDecision:
        notices = [*self._pending_notices, *self._apply(events)]
        self._pending_notices = []
        households = list(self.feeder.households)
        in_force = {h: lease.limit_w / 1000 for h, lease in self._leases.in_force(now).items()}

        if feeder_load_kw is not None and not math.isfinite(feeder_load_kw):
            feeder_load_kw = None
        usage = {h: kw for h, kw in usage.items() if math.isfinite(kw)}
        if feeder_load_kw is not None:
            self._forecast.observe(feeder_load_kw)
            forecast = self._forecast.forecast()
            target = None if forecast is None else forecast - self.other_load_kw
        else:
            target = None
        demands = estimate_demands(
            households,
            usage,
            target,
            in_force,
            off=self._disconnected.keys(),
            # Two ramp steps: after the smoother raises the limit by one, the household is still
            # known to want more, so the limit keeps rising (not released) while it presses on.
            censor_step_kw=2 * self.settings.ramp_up_kw_per_cycle,
            remembered_kw=self._free_demand,
        )
        pressing_now = {
            h
            for h in in_force
            if h not in self._disconnected and pressing(usage.get(h), in_force[h])
        }
        for household in households:
            if household not in self._disconnected and household not in pressing_now:
                self._free_demand[household] = demands[household]
        for household, demand in self._disconnected.items():
            demands[household] = demand
        # What each household would draw without limits: for one pressing on its limit, what it
        # wanted when last free (the probing estimate above it only serves to let limits rise).
        wanted = {
            h: self._free_demand.get(h, d) if h in pressing_now else d for h, d in demands.items()
        }

        reductions = self._events.reductions(now, self.feeder.id, households, self.eligible)
        for household in [h for h in self._baselines if h not in reductions]:
            del self._baselines[household]
        models = [self._household(h, demands[h], wanted[h], reductions.get(h)) for h in households]
        allocation = allocate(self._model, models, self.other_load_kw)
        smoothed = self._smoother.step(allocation)

        commands: list[HouseholdCommand] = []
        forecast_kw = self.other_load_kw + math.fsum(wanted.values())
        for model in models:
            household = model.id
            limit_w = self._quantise(smoothed.get(household), allocation.floor_kw[household])
            if limit_w is None and self._leases.get(household) is None:
                continue  # the common case, kept cheap: 10,000 households a cycle
            if limit_w is None:
                source, reason = (
                    "allocation",
                    f"feeder {self.feeder.id} forecast {forecast_kw:.1f} kW within usable "
                    f"{allocation.usable_kw:.1f} kW: limit no longer needed",
                )
            else:
                source, reason = limit_reason(
                    self.feeder.id,
                    model,
                    allocation,
                    reductions.get(household),
                    self._baselines.get(household, 0.0),
                    forecast_kw,
                )
            decision = self._leases.decide(household, limit_w, now, source=source, reason=reason)
            if decision is None:
                continue
            lease_s = None if decision.action is LeaseAction.RELEASE else self._lease_s
            commands.append(
                HouseholdCommand(
                    household=household,
                    action=decision.action.value,
                    reason=decision.why,
                    limit_w=decision.limit_w,
                    lease_s=lease_s,
                    lease_until=decision.expires_at,
                )
            )
        # limits raised for households drawing up to them: the load may rise by that much
        self._forecast.expect_rise(
            math.fsum(
                c.limit_w / 1000 - in_force[c.household]
                for c in commands
                if c.limit_w is not None
                and c.household in pressing_now
                and c.limit_w / 1000 > in_force[c.household]
            )
        )
        cut, restored = self._switching(allocation, demands, forecast_kw)
        commands += cut + restored

        limits_w = {h: lease.limit_w for h, lease in self._leases.in_force(now).items()}
        infeasible = infeasibility(self.feeder.id, allocation, models)
        # Said once when it starts and once when it ends, not every cycle in between.
        if infeasible is not None and not self._was_infeasible:
            notices.append(infeasible)
        elif infeasible is None and self._was_infeasible:
            notices.append(f"feeder {self.feeder.id}: the guaranteed minimums fit again")
        self._was_infeasible = infeasible is not None
        cycle = self._record(
            now,
            feeder_load_kw,
            forecast_kw,
            models,
            wanted,
            limits_w,
            commands,
            infeasible,
            cut,
            restored,
        )
        return CycleDecision(
            feeder=self.feeder.id,
            commands=commands,
            cycle=cycle,
            limits_w=limits_w,
            disconnected=frozenset(self._disconnected),
            infeasible=infeasible,
            notices=notices,
        )

    @property
    def _lease_s(self) -> int:
        return int(self.settings.lease.total_seconds())

    def _household(
        self, household: str, demand: float, wanted: float, reduction: Reduction | None
    ) -> Household:
        profile = self._profiles[household]
        maximum = profile.max_kw
        if reduction is not None:
            # The baseline is the demand when the household entered the window: what it would
            # draw without the event, not what it draws while held by it.
            baseline = self._baselines.setdefault(household, max(0.0, wanted))
            maximum = min(maximum, baseline - reduction.kw)
        return Household(
            id=household,
            demand_kw=max(0.0, demand),
            pv_export_kw=max(0.0, -demand),
            minimum_kw=profile.min_kw,
            maximum_kw=max(maximum, profile.min_kw, 1e-3),
            weight=profile.weight,
            priority=profile.protected,
            has_limiter=profile.limiter,
        )

    def _quantise(self, limit_kw: float | None, floor_kw: float) -> int | None:
        """Whole steps of `limit_step_w`, rounded down (so the sum stays under the capacity), but
        never below the guaranteed floor nor below one step: a 0 W limit is a disconnection in
        disguise."""
        if limit_kw is None:
            return None
        step = self.limit_step_w
        watts = math.floor(limit_kw * 1000 / step + 1e-9) * step
        return max(watts, math.ceil(floor_kw * 1000 - 1e-6), step)

    def _switching(
        self, allocation: Allocation, demands: Mapping[str, float], forecast_kw: float
    ) -> tuple[list[HouseholdCommand], list[HouseholdCommand]]:
        cut: list[HouseholdCommand] = []
        restored: list[HouseholdCommand] = []
        wanted = set(allocation.disconnect)
        for household in allocation.disconnect:
            self._unneeded.pop(household, None)
            if household in self._disconnected:
                continue
            self._disconnected[household] = demands[household]
            cut.append(
                HouseholdCommand(
                    household=household,
                    action="disconnect",
                    reason=f"last resort: feeder {self.feeder.id} forecast {forecast_kw:.1f} kW "
                    f"over usable {allocation.usable_kw:.1f} kW with every limitable household "
                    "at its minimum, and this meter has no limiter",
                )
            )
        for household in list(self._disconnected):
            if household in wanted:
                continue
            calm = self._unneeded.get(household, 0) + 1
            self._unneeded[household] = calm
            if calm > self.settings.hold_cycles:
                del self._disconnected[household]
                del self._unneeded[household]
                restored.append(
                    HouseholdCommand(
                        household=household,
                        action="reconnect",
                        reason=f"feeder {self.feeder.id} has room again for "
                        f"{demands[household]:.2f} kW ({calm} cycles)",
                    )
                )
        return cut, restored

    def _record(
        self,
        now: datetime,
        load_kw: float | None,
        forecast_kw: float,
        households: list[Household],
        wanted: Mapping[str, float],
        limits_w: Mapping[str, int],
        commands: list[HouseholdCommand],
        infeasible: str | None,
        cut: list[HouseholdCommand],
        restored: list[HouseholdCommand],
    ) -> LoadCycle:
        usable = self.usable_kw
        overload_s, served, demanded = self._interval.close(now, load_kw, forecast_kw)
        fairness = curtailment_fairness(households, wanted, limits_w)
        counts: dict[str, int] = {}
        for command in commands:
            counts[command.action] = counts.get(command.action, 0) + 1
        changes = sum(counts.get(a, 0) for a in ("limit", "release", "disconnect", "reconnect"))
        report = cycle_report(
            self.feeder.id,
            self.feeder.meter,
            load_kw,
            usable,
            forecast_kw,
            len(limits_w),
            counts,
            len(cut),
            len(restored),
            len(self._disconnected),
            infeasible,
        )
        return LoadCycle(
            feeder=self.feeder.id,
            at=now,
            load_kw=load_kw,
            capacity_kw=usable,
            forecast_kw=forecast_kw,
            limit_kw_total=math.fsum(limits_w.values()) / 1000,
            overloaded=load_kw is not None and load_kw > usable,
            overload_s=overload_s,
            served_kwh=served,
            demanded_kwh=demanded,
            fairness=fairness,
            limited=len(limits_w),
            disconnected=len(self._disconnected),
            limit_changes=changes,
            infeasible=infeasible is not None,
            report=report,
        )

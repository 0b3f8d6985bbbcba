"""Next-interval forecasts for one feeder: the feeder's load from its own meter's recent values,
and each household's demand from its latest usage reading.

The feeder meter is read every cycle, the households are not: their latest readings (older, and
sometimes missing) are scaled so that together they make up the feeder's forecast, less the load
that belongs to no household. What a household draws while held at its limit says only that its
demand is at least the limit (a censored observation), so such a demand is estimated upwards;
that lets a limit rise again while the household still presses against it.
Pure functions and one small state holder; no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Mapping, Sequence


class FeederForecast:
    """Last value plus a damped rising trend: follows an evening ramp without overshooting on
    noise.

    A rise the controller itself allowed (it raised the limit of a household pressing on it) is
    not demand growing: it is taken out of the trend (`expect_rise`). Otherwise a limit raised
    to just fit reads as a rising load, the forecast overshoots, the limit is cut a step, the
    load falls, and the limit rises again: an oscillation of one step that never settles.
    """

    def __init__(self, damping: float = 0.5, history: int = 3) -> None:
        if not 0 <= damping <= 1:
            raise ValueError("damping must be within [0, 1]")
        self.damping = damping
        # the loads less every rise the controller allowed so far: the trend is taken on these
        self._recent: deque[float] = deque(maxlen=max(2, history))
        self._allowed_kw = 0.0
        self._last: float | None = None

    def observe(self, load_kw: float) -> None:
        self._last = load_kw
        self._recent.append(load_kw - self._allowed_kw)

    def expect_rise(self, kw: float) -> None:
        """The controller raised limits households were pressing on by `kw` in all: the next
        readings may rise by that much without any demand having grown."""
        self._allowed_kw += max(0.0, kw)

    @property
    def last_kw(self) -> float | None:
        return self._last

    def forecast(self) -> float | None:
        """The load expected over the next interval, None before the first observation."""
        last = self._last
        if last is None or len(self._recent) < 2:
            return last
        # The mean step over the window: one noisy reading moves the trend less. A fall is
        # forecast flat: it is often the manager's own limits taking effect, not less demand,
        # and easing limits early is what the hysteresis is there to avoid anyway.
        trend = (self._recent[-1] - self._recent[0]) / (len(self._recent) - 1)
        return last + self.damping * max(0.0, trend)


def estimate_demands(
    households: Sequence[str],
    usage_kw: Mapping[str, float],
    target_kw: float | None,
    limits_kw: Mapping[str, float],
    *,
    off: Collection[str] = (),
    remembered_kw: Mapping[str, float] | None = None,
    censor_tolerance: float = 0.05,
    censor_uplift: float = 1.2,
    censor_step_kw: float = 0.0,
    scale_bounds: tuple[float, float] = (0.5, 2.0),
) -> dict[str, float]:
    """Each household's net demand for the next interval (kW; negative: PV export).

    * a household without a reading is taken as the mean import of those with one (with none,
      the target's share of what the readings do not account for);
    * imports are scaled so that the net total meets `target_kw` (the feeder's forecast less
      the non-household load), within `scale_bounds` so one odd feeder reading does not blow
      every estimate up; exports (PV) are taken as read;
    * a household drawing within `censor_tolerance` of its limit in force is censored: its
      demand is at least `censor_uplift` times the limit, and at least `censor_step_kw` above
      it (the controller's ramp step, so a limit can rise by a whole step), and at least what
      it wanted when last seen free (`remembered_kw`), so a limit that holds a steady demand
      does not make that demand look smaller the next cycle;
    * households in `off` (disconnected) are left out of the scaling: they draw nothing now.
    """
    on = [h for h in households if h not in off]
    known = [usage_kw[h] for h in on if h in usage_kw]
    imports_known = [u for u in known if u > 0]
    missing = len(on) - len(known)
    if imports_known:
        fill = math.fsum(imports_known) / len(imports_known)
    elif missing and target_kw is not None:
        # Nothing read yet (a start, a store outage): the feeder's load shared evenly, so an
        # overload measured at the transformer is acted on even before households' readings.
        fill = max(0.0, target_kw - math.fsum(known)) / missing
    else:
        fill = 0.0
    net = {h: usage_kw.get(h, fill) for h in on}
    imports = math.fsum(u for u in net.values() if u > 0)
    exports = math.fsum(u for u in net.values() if u < 0)
    scale = 1.0
    if target_kw is not None and imports > 0:
        low, high = scale_bounds
        scale = min(high, max(low, (target_kw - exports) / imports))
    out: dict[str, float] = {}
    for h in households:
        if h in off:
            out[h] = 0.0
            continue
        value = net[h] * scale if net[h] > 0 else net[h]
        limit = limits_kw.get(h)
        if limit is not None and pressing(usage_kw.get(h), limit, censor_tolerance):
            value = max(value, limit * censor_uplift, limit + censor_step_kw)
            if remembered_kw is not None and h in remembered_kw:
                value = max(value, remembered_kw[h])
        out[h] = value
    return out


def pressing(usage_kw: float | None, limit_kw: float | None, tolerance: float = 0.05) -> bool:
    """Whether a household draws (within `tolerance`) what its limit allows: its use then says
    only that its demand is at least the limit."""
    if usage_kw is None or limit_kw is None:
        return False
    return usage_kw >= limit_kw * (1 - tolerance)

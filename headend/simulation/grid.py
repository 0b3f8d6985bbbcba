"""The grid behind a generated fleet: feeders, their meters at the transformer, and households.

`headend demo` (the two-way grid interaction demo) and its tests need a fleet whose households
sit on feeders with capacities that make an evening interesting: one feeder whose unmanaged
evening peak exceeds its capacity, one with a demand-response event, the others with headroom.
The capacities are worked out here from the same load model the simulated meters integrate
(`drivers/sim/consumption.py`, one `HouseholdProfile.random(seed, pv_share)` per meter with the
seed the simulator gives it), so "the evening peak exceeds the capacity by 25 %" is a fact of the
simulated households, not a guess.

Households are put on feeders by channel (the meters behind one concentrator, gateway or line
hang off one transformer, as in the field), each kind of channel dealt out in turn, so each
feeder holds a mix of protocols when the fleet has one. Each feeder gets its own meter at the
transformer: a DLMS wrapper meter on its own channel, which the simulator serves as the sum of
its households (`drivers/sim` FeederMeter).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.sim.consumption import HouseholdProfile, net_at

FEEDER_METER_PREFIX = "feeder-meter-"
# the Modbus households of a grid are meters with a relay and a load limiter (a simulator model:
# the generated fleet's DTSU666/SDM maps have neither, so the load manager could not act on them)
MODBUS_HOUSEHOLD_MODEL = "hes-limiter"
# Commands need an authenticated association (a DLMS public client may only read): households
# without HLS get LLS with this public DEMO password (never for a real meter).
DEMO_LLS_KEY = "demo-lls-grid"
DEMO_LLS_PASSWORD = "grid-demo"
# the priority classes a household can have in the load manager's configuration
MEDICAL = "medical"


class GridShape(BaseModel):
    """How the generated households are laid out on feeders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feeders: int = Field(default=4, ge=1, le=1000)
    pv_share: float = Field(default=0.03, ge=0, le=1, description="households with rooftop PV")
    priority_share: float = Field(default=0.02, ge=0, le=0.5, description="medical households")
    overload: float = Field(
        default=1.25, gt=1, le=3, description="feeder 1: unmanaged peak / usable capacity"
    )
    headroom: float = Field(
        default=1.2, ge=1, le=3, description="other feeders: usable capacity / unmanaged peak"
    )
    margin: float = Field(default=0.05, ge=0, lt=0.5, description="safety margin of a capacity")
    dr_share: float = Field(
        default=0.15, ge=0, lt=1, description="feeder 2: demand-response reduction / its peak"
    )
    window_start: time = time(16, 0)
    window_end: time = time(0, 0)
    """The evening the capacities are worked out over (00:00 = midnight at its end)."""


def household_profile(seed: int, index: int, pv_share: float) -> HouseholdProfile:
    """The load model of fleet meter `index`, as the simulator builds it."""
    return HouseholdProfile.random(seed + index, pv_share)


def evening_hours(shape: GridShape, step_minutes: int = 5) -> list[float]:
    """The hours of the day sampled over the window, every `step_minutes`."""
    start = shape.window_start.hour + shape.window_start.minute / 60
    end = shape.window_end.hour + shape.window_end.minute / 60
    if end <= start:
        end += 24
    count = round((end - start) * 60 / step_minutes)
    return [(start + k * step_minutes / 60) % 24 for k in range(count + 1)]


def unmanaged_peak_kw(profiles: Sequence[HouseholdProfile], hours: Sequence[float]) -> float:
    """The largest net load (kW, PV export counted) of these households over `hours`."""
    peak = -math.inf
    for hour in hours:
        peak = max(peak, sum(net_at(p, hour) for p in profiles))
    return max(peak, 0.0) / 1000.0


def feeder_of_channels(channels: Sequence[tuple[str, str, int]], feeders: int) -> dict[str, int]:
    """(channel id, kind, meters on it) -> feeder index (0-based). Shared channels of each kind
    (concentrators, gateways, lines) are dealt out in turn, so every feeder gets its share of
    each kind; then each single-meter channel (a GPRS meter) goes to the feeder with the fewest
    meters so far, which evens the feeders out."""
    held = [0] * feeders
    placed: dict[str, int] = {}
    turn: dict[str, int] = {}
    for channel, kind, size in channels:
        if size > 1:
            feeder = turn.get(kind, 0) % feeders
            turn[kind] = feeder + 1
            placed[channel] = feeder
            held[feeder] += size
    for channel, _kind, size in channels:
        if size <= 1:
            feeder = min(range(feeders), key=held.__getitem__)
            placed[channel] = feeder
            held[feeder] += size
    return placed


def add_grid(data: dict[str, Any], shape: GridShape, gprs_host: str, day: date) -> dict[str, Any]:
    """Add feeders, feeder meters and household classes to generated fleet data (in place);
    returns the `[load]` table added; `day` is the date (UTC) of the evening. Feeder meters go
    after every household, so the households keep the simulator seeds they had."""
    seed = int(data["simulation"].get("seed", 1))
    data["simulation"]["pv_share"] = shape.pv_share
    meters: list[dict[str, Any]] = data["meters"]
    household_ids = [m["id"] for m in meters]
    protocol_of = {m["id"]: m["protocol"] for m in meters}
    lls = 0
    for meter in meters:
        if meter["protocol"] == "modbus":
            meter["model"] = MODBUS_HOUSEHOLD_MODEL
        elif meter["protocol"] == "dlms" and "auth" not in meter:
            meter.update(auth="low", key=DEMO_LLS_KEY)
            lls += 1
    if lls:
        keys = data["simulation"].setdefault("demo_keys", {})
        keys[DEMO_LLS_KEY] = {"password": DEMO_LLS_PASSWORD}
    profiles = {m["id"]: household_profile(seed, i, shape.pv_share) for i, m in enumerate(meters)}
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for meter in meters:
        sizes[meter["channel"]] = sizes.get(meter["channel"], 0) + 1
        kinds[meter["channel"]] = f"{meter['protocol']}/{meter.get('framing', '')}"
    feeders = min(shape.feeders, len(sizes))
    on_feeder = feeder_of_channels([(c, kinds[c], n) for c, n in sizes.items()], feeders)
    members: list[list[str]] = [[] for _ in range(feeders)]
    for meter in meters:
        members[on_feeder[meter["channel"]]].append(meter["id"])
    hours = evening_hours(shape)
    width = len(str(feeders))
    feeder_tables: list[dict[str, Any]] = []
    households: dict[str, dict[str, Any]] = {}
    for f, ids in enumerate(members):
        feeder_id = f"feeder-{f + 1:0{width}d}"
        meter_id = f"{FEEDER_METER_PREFIX}{f + 1:0{width}d}"
        peak = unmanaged_peak_kw([profiles[h] for h in ids], hours)
        usable = peak / shape.overload if f == 0 else peak * shape.headroom
        feeder_tables.append(
            {
                "id": feeder_id,
                "capacity_kw": round(usable / (1 - shape.margin), 1),
                "margin": shape.margin,
                "meter": meter_id,
                "households": ids,
            }
        )
        # the feeder meter: a DLMS wrapper meter on its own channel (as a GPRS meter has)
        meters.append({"id": meter_id, "protocol": "dlms", "channel": meter_id})
        data["channels"].append(
            {"id": meter_id, "host": gprs_host, "port": 1}  # port filled in when it listens
        )
    priority_every = round(1 / shape.priority_share) if shape.priority_share else 0
    for i, household in enumerate(household_ids):
        entry: dict[str, Any] = {}
        if priority_every and i % priority_every == priority_every // 2:
            entry["priority"] = MEDICAL
        if protocol_of[household] == "dlt645":
            entry["limiter"] = False  # a relay, but no load limiter
        if entry:
            households[household] = entry
    load: dict[str, Any] = {"feeders": feeder_tables, "households": households}
    if feeders > 1 and shape.dr_share > 0:
        second = feeder_tables[1]
        peak = unmanaged_peak_kw([profiles[h] for h in members[1]], hours)
        evening = datetime.combine(day, shape.window_start, tzinfo=UTC)
        load["demand_response"] = [
            {
                "id": "dr-evening",
                "version": 1,
                "feeder": second["id"],
                "start": evening + timedelta(hours=2),
                "end": evening + timedelta(hours=4),
                "reduction_kw": round(peak * shape.dr_share, 1),
                "spread": "PT10M",
            }
        ]
    data["load"] = load
    return load

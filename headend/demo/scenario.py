"""The grid demo's scenario: the options of `headend demo`, the fleet they make and the command
line of the simulator process that serves it.

The fleet mixes what a distribution grid has: data concentrators with DLMS HDLC meters (a fifth
of the households), RS-485 gateways with Modbus limiter meters, one DL/T 645 line (relays only)
and GPRS DLMS meters for the rest; the grid layout (feeders, capacities, medical households, the
demand-response event) is headend.simulation.grid's. The clock factor makes the simulated
evening last `minutes` real minutes.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DB = "var/grid-demo.sqlite3"
DEFAULT_OUT = "var/grid-demo"
METERS_PER_CONCENTRATOR = 100
UNITS_PER_GATEWAY = 16
HDLC_SHARE = 0.2
MODBUS_SHARE = 0.064
DLT645_METERS = 8
PV_SHARE = 0.03
HISTORY = "PT2H"  # integrated when a meter is first dialled: short, so the first read is cheap


class FleetMix(BaseModel):
    """How many households of each kind, and on how many shared channels."""

    model_config = ConfigDict(frozen=True)

    concentrators: int
    meters_per_concentrator: int
    modbus_gateways: int
    units_per_gateway: int
    dlt645_lines: int
    meters_per_line: int


def fleet_mix(households: int) -> FleetMix:
    hdlc = round(households * HDLC_SHARE)
    modbus = round(households * MODBUS_SHARE)
    dlt = min(DLT645_METERS, max(1, households // 20))
    concentrators = math.ceil(hdlc / METERS_PER_CONCENTRATOR)
    gateways = math.ceil(modbus / UNITS_PER_GATEWAY)
    return FleetMix(
        concentrators=concentrators,
        meters_per_concentrator=math.ceil(hdlc / concentrators) if concentrators else 1,
        modbus_gateways=gateways,
        units_per_gateway=math.ceil(modbus / gateways) if gateways else 1,
        dlt645_lines=1,
        meters_per_line=dlt,
    )


class DemoOptions(BaseModel):
    """`headend demo`'s options, checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    households: int = Field(default=10_000, ge=20, le=200_000)
    feeders: int = Field(default=4, ge=1, le=100)
    start: time = time(16, 0)
    end: time = time(0, 0)
    minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    day: date = Field(default_factory=lambda: datetime.now(UTC).date())
    db: str = DEFAULT_DB
    out: Path = Path(DEFAULT_OUT)
    live: bool = True
    seed: int = 1
    usage_every_min: int = Field(default=60, ge=1, le=240)
    # Few commands: a limit renewed only when less than half its lease is left, and changed only
    # by whole steps (the fair share's level moves every household's limit at once).
    lease_min: int = Field(default=180, ge=15, le=24 * 60)
    limit_step_w: int = Field(default=500, ge=1, le=10_000)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.day, self.start, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        end = datetime.combine(self.day, self.end, tzinfo=UTC)
        return end if end > self.start_at else end + timedelta(days=1)

    @property
    def factor(self) -> float:
        """Simulated seconds per real second."""
        return (self.end_at - self.start_at).total_seconds() / (self.minutes * 60)

    def simulator_command(self, fleet_file: Path, gprs_port: int) -> list[str]:
        """`headend simulate` of the grid fleet, as a child process of this Python."""
        mix = fleet_mix(self.households)
        return [
            sys.executable,
            "-m",
            "headend.cli.main",
            "simulate",
            "--meters",
            str(self.households),
            "--concentrators",
            str(mix.concentrators),
            "--meters-per-concentrator",
            str(mix.meters_per_concentrator),
            "--modbus-gateways",
            str(mix.modbus_gateways),
            "--units-per-gateway",
            str(mix.units_per_gateway),
            "--dlt645-lines",
            str(mix.dlt645_lines),
            "--meters-per-line",
            str(mix.meters_per_line),
            "--gprs-port",
            str(gprs_port),
            "--seed",
            str(self.seed),
            "--factor",
            f"{self.factor:.6g}",
            "--start",
            self.start_at.isoformat(),
            "--history",
            HISTORY,
            "--feeders",
            str(self.feeders),
            "--grid-until",
            self.end.strftime("%H:%M"),
            "--pv-share",
            str(PV_SHARE),
            "--usage-every",
            str(self.usage_every_min),
            "--lease",
            str(self.lease_min),
            "--limit-step",
            str(self.limit_step_w),
            "--write-config",
            str(fleet_file),
        ]

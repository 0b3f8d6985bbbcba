"""A small prepaid fleet for the fee-control scenario: four HLS-ciphered simulated DLMS meters
(two behind a concentrator, two GPRS) served on real sockets, on a frozen simulated clock the
test moves day by day; the reading store, a real command service, billing's database and the
prepay runner with a deduction source that prices the stored daily register advance.

`StoredAdvancePrice` stands in for the lead's tariff-based source (month-to-date bill through
the day minus through the day before): the day's advance of the import register 1.0.1.8.0.255 as
stored by the reading service (daily values, captured at 00:00 UTC), Wh -> kWh, at a flat rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from billing.prepay.runner import DeductionUnavailable, PrepayRunner
from billing.prepay.settings import PrepaySettings
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from headend.commands.service import CommandService
from headend.config import HeadendConfig
from headend.reading import ReadingService
from headend.reading.channels import channel_registry
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.store import Store, open_store
from tests.service.fleet_files import load, shape, write_fleet

IMPORT = "1.0.1.8.0.255"
DAILY_VALUES = "1.0.99.2.0.255"
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
PLAN = {"name": "daily-values", "profile": DAILY_VALUES, "profile_window": "P2D", "rereads": 0}


class StoredAdvancePrice:
    """A day's charge: (stored import register at the next midnight - at this midnight) in kWh
    times a flat rate, rounded half-up to the cent."""

    def __init__(self, store: Store, rate: Decimal, zone: Any = UTC) -> None:
        self.store = store
        self.rate = rate
        self.zone = zone

    async def day_charge(self, meter_id: str, day: date) -> Decimal:
        start = datetime.combine(day, time(0), tzinfo=self.zone)
        end = start + timedelta(days=1)
        found = {
            r.capture_time: r.value
            for r in await self.store.readings(
                meter_id=meter_id, obis=IMPORT, since=start, until=end
            )
            if r.capture_time is not None
        }
        first, last = found.get(start), found.get(end)
        if not isinstance(first, Decimal) or not isinstance(last, Decimal):
            raise DeductionUnavailable(f"no stored {IMPORT} at {start} and {end}")
        kwh = (last - first) / 1000
        return (kwh * self.rate).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass
class PrepayRig:
    sim: SimulatedFleet
    config: HeadendConfig
    store: Store
    commands: CommandService
    db: BillingDb
    runner: PrepayRunner
    reading: ReadingService

    @property
    def meters(self) -> list[str]:
        return [m.id for m in self.config.fleet.meters]

    async def collect(self) -> None:
        """Read every meter's daily values over its socket into the store."""
        plan = self.config.fleet.plan("daily-values")
        report = await self.reading.run(plan, now=self.sim.clock.now())
        assert report.all_ok, report


def fleet_config(tmp_path: Path, public: str | None = None) -> HeadendConfig:
    """The fleet file; `public`: a meter the head-end reaches as the public client, which may
    read but whose commands the meter refuses."""

    def tweak(data: dict[str, Any]) -> None:
        data["simulation"].update(factor=0, clock_start=START)
        data["service"]["commands"] = {"backoff_s": 0.05, "backoff_max_s": 0.2}
        for meter in data["meters"]:
            if meter["id"] == public:
                for key in ("auth", "cipher", "key"):
                    meter.pop(key, None)

    fleet_shape = shape(
        4,
        concentrators=1,
        meters_per_concentrator=2,
        cipher_share=1.0,
        factor=0,
        history=timedelta(days=2),
    )
    return load(write_fleet(tmp_path / "fleet.toml", fleet_shape, [PLAN], tweak=tweak))


@asynccontextmanager
async def prepay_rig(
    tmp_path: Path,
    settings: PrepaySettings,
    rate: Decimal,
    *,
    holds: tuple[str, ...] = (),
    public: str | None = None,
) -> AsyncIterator[PrepayRig]:
    config = fleet_config(tmp_path, public)
    async with simulated_fleet(config) as (sim, served):
        store = await open_store(str(tmp_path / "site.sqlite3"))
        commands = CommandService(served, store, channel_registry(served.fleet), sim.clock)
        # billing's tables in the site database, beside the reading store's (as `headend` has them)
        db = await open_billing_db(tmp_path / "site.sqlite3", MIGRATIONS)
        meters = settings.prepaid_meters(
            [m.id for m in served.fleet.meters], served.fleet.service.commands.groups
        )
        runner = PrepayRunner(
            db,
            settings,
            commands,
            store,
            sim.clock,
            StoredAdvancePrice(store, rate),
            meters,
            holds=holds,
        )
        try:
            reading = ReadingService(served, store, contacts=store, counters=store)
            yield PrepayRig(sim, served, store, commands, db, runner, reading)
        finally:
            await runner.stop()
            await commands.close()
            await db.close()
            await store.close()

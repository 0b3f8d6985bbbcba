"""A prepaid fleet run by a real `Daemon`: four HLS-ciphered simulated DLMS meters (two behind a
concentrator, two GPRS) served on the ports of the fleet file (so a CLI in another thread reaches
them too), a frozen simulated clock the test moves, the daily values read into the site
database, and a `[billing]` section on the simulator's own time-of-use tariff
(config/tariffs/sim-tou.toml) with `[billing.prepay]` for two of the meters.

`Truth` works each day's charge out by hand from the simulated meters' own billing logs (the
tariff registers 1.8.1..1.8.4 as the meter captured them at each 00:00 UTC), not from the store:
the month-to-date bill through a day is, per sim-tou,

    sum over night/day/peak/shoulder of round_half_up(kWh since Nov 1 00:00 x rate, 0.01)
    + 0.42 EUR x days (the daily standing charge)

and a day's charge is that total through the day less the total through the day before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from headend.simulation.fleet import SimulatedFleet
from tests.conftest import free_port
from tests.service.fleet_files import shape, write_fleet

ROOT = Path(__file__).resolve().parents[3]
TARIFF = ROOT / "config" / "tariffs" / "sim-tou.toml"
A, B = "gprs-000001", "dc01-0002"  # prepaid
START = datetime(2026, 11, 1, tzinfo=UTC)  # a Sunday, the first of the month
DAILY_VALUES = "1.0.99.2.0.255"
PLAN = {"name": "daily-values", "profile": DAILY_VALUES, "profile_window": "P3D", "rereads": 0}
PREPAY: dict[str, Any] = {
    "meters": [A, B],
    "currency": "EUR",
    "opening_balance": "8.00",
    "first_alarm_balance": "6.00",
    "second_alarm_balance": "3.00",
    "disconnect_balance": "0.00",
    "reconnect_balance": "5.00",
    "max_credit": "100.00",
    "emergency_credit": "4.00",
}
# sim-tou's rates, EUR/kWh, in the order of the meters' tariff registers 1.8.1..1.8.4
RATES = (Decimal("0.1850"), Decimal("0.2790"), Decimal("0.3640"), Decimal("0.2460"))
STANDING = Decimal("0.42")
CENT = Decimal("0.01")


def prepay_fleet(tmp_path: Path, prepay: dict[str, Any] | None = None) -> Path:
    def tweak(data: dict[str, Any]) -> None:
        data["simulation"].update(factor=0, clock_start=START)
        data["service"]["commands"] = {"backoff_s": 0.05, "backoff_max_s": 0.2}
        for channel in data["channels"]:
            channel.update(host="127.0.0.1", port=free_port())
        data["billing"] = {"tariffs": [str(TARIFF)], "prepay": prepay or PREPAY}

    fleet_shape = shape(
        4,
        concentrators=1,
        meters_per_concentrator=2,
        cipher_share=1.0,
        factor=0,
        history=timedelta(days=2),
    )
    return write_fleet(tmp_path / "fleet.toml", fleet_shape, [PLAN], tweak=tweak)


class Truth:
    """Charges from the simulated meters' own midnight captures (see the module docstring)."""

    def __init__(self, sim: SimulatedFleet) -> None:
        self.sim = sim

    def registers(self, meter_id: str, at: datetime) -> tuple[int, int, int, int]:
        meter = self.sim.meter(meter_id)
        meter.sync()
        (row,) = [r for r in meter.daily.rows() if r.clock == at]
        return row.import_tariff_wh

    def month_to_date(self, meter_id: str, days: int) -> Decimal:
        first = self.registers(meter_id, START)
        last = self.registers(meter_id, START + timedelta(days=days))
        energy = sum(
            (
                ((Decimal(b - a) / 1000) * rate).quantize(CENT, ROUND_HALF_UP)
                for a, b, rate in zip(first, last, RATES, strict=True)
            ),
            Decimal(0),
        )
        return energy + STANDING * days

    def charge(self, meter_id: str, day: int) -> Decimal:
        """Day `day` of November (1 = Sunday the 1st)."""
        return self.month_to_date(meter_id, day) - self.month_to_date(meter_id, day - 1)

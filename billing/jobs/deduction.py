"""A prepaid account's daily deduction at its meter's tariff: what the month's bill through the
end of the day adds to the month's bill through the day's start.

Working it from two month-to-date bills (rather than pricing the day alone) keeps every tariff
feature right without a second pricing engine: tier blocks count the month's (or the year's)
consumption so far, a demand charge grows only when the month's maximum grows, fixed charges
accrue by the day; and the month's deductions add up to the month's bill.

The day is a local date in the `[billing.prepay]` time zone. When that is not the tariff's, the
day may straddle two of the tariff's billing months: each month's share is priced in its own
month-to-date bills and the shares added. The charge is rounded to the account currency's minor
units by the tariff's rounding rule (the difference of two bills is already a whole number of
the tariff's minor units; the rounding matters only when the account keeps fewer).

A day is priced only once its readings are stored: an import register read at or after the
day's end (within the VEE boundary window), else `DeductionUnavailable` and the runner asks again
at its next round. Without that check VEE would estimate the day's missing end and the account
would be charged for an estimate that real readings arriving an hour later would contradict.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.bill.compute import compute_bill
from billing.bill.store import prior_import
from billing.config import Billing
from billing.jobs.bill import determinants_batches
from billing.money import MoneyRule
from billing.period import BillingPeriod
from billing.prepay.runner import DeductionUnavailable
from billing.store.database import BillingDb
from billing.tariff.model import Tariff
from headend.store import Store

IMPORT = "1.0.1.8.0.255"


def local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of local `day` in `zone` (23 or 25 hours on a DST change)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def months_across(start: datetime, end: datetime, timezone: str) -> list[BillingPeriod]:
    """The tariff's billing months that [start, end) touches, in order."""
    local = start.astimezone(ZoneInfo(timezone))
    period = BillingPeriod.month(f"{local.year:04d}-{local.month:02d}", timezone)
    found = [period]
    while period.end < end:
        after = period.end.astimezone(ZoneInfo(timezone))
        period = BillingPeriod.month(f"{after.year:04d}-{after.month:02d}", timezone)
        found.append(period)
    return found


class TariffDeduction:
    """`DeductionSource` on the fleet file's tariffs and the stored readings; days are local
    dates in the `[billing.prepay]` time zone (the tariff's when there is no such section)."""

    def __init__(self, billing: Billing, store: Store, db: BillingDb) -> None:
        self._billing = billing
        self._store = store
        self._db = db
        self._prepay = billing.settings.prepay

    def _zone(self, tariff: Tariff) -> ZoneInfo:
        return self._prepay.zone if self._prepay is not None else ZoneInfo(tariff.timezone)

    def _money(self, tariff: Tariff) -> MoneyRule:
        if self._prepay is None:
            return tariff.money
        return tariff.money.model_copy(update={"minor_units": self._prepay.minor_units})

    async def day_charge(self, meter_id: str, day: date) -> Decimal:
        tariff = self._billing.tariff_of(meter_id)
        start, end = local_day(day, self._zone(tariff))
        await self._check_stored(meter_id, day, end)
        charge = Decimal(0)
        for period in months_across(start, end, tariff.timezone):
            charge += await self._month_share(tariff, meter_id, day, period, start, end)
        return self._money(tariff).round(charge)

    async def _check_stored(self, meter_id: str, day: date, end: datetime) -> None:
        window = timedelta(hours=self._billing.settings.vee.boundary_window_hours)
        found = await self._store.readings(
            meter_id=meter_id, obis=IMPORT, since=end, until=end + window
        )
        if not found:
            raise DeductionUnavailable(
                f"meter {meter_id}: day {day.isoformat()}: no {IMPORT} stored at or after "
                f"{end.isoformat()} yet"
            )

    async def _month_share(
        self,
        tariff: Tariff,
        meter_id: str,
        day: date,
        period: BillingPeriod,
        start: datetime,
        end: datetime,
    ) -> Decimal:
        """The month-to-date bill through min(end, month end) less through max(start, month
        start)."""
        priors = (
            await prior_import(self._db, [meter_id], period) if tariff.tier_basis == "year" else {}
        )
        totals: list[Decimal] = []
        for through in (max(start, period.start), min(end, period.end)):
            if through <= period.start:
                totals.append(Decimal(0))
                continue
            failed: dict[str, str] = {}
            dets = await determinants_batches(
                self._billing,
                self._store,
                tariff,
                [meter_id],
                period.start,
                through,
                priors=priors,
                failed=failed,
            )
            if not dets:
                raise DeductionUnavailable(
                    f"meter {meter_id}: day {day.isoformat()}: "
                    f"{failed.get(meter_id, 'no determinants')}"
                )
            try:
                totals.append(compute_bill(tariff, dets[0], period).total)
            except ValueError as exc:
                raise DeductionUnavailable(
                    f"meter {meter_id}: day {day.isoformat()}: {exc}"
                ) from None
        return totals[1] - totals[0]

"""A bill's identity: a sha-256 over everything the bill is priced from.

The same meter, period, tariff content and determinants give the same `bill_id`; any change to
them (a re-estimated value, a corrected tariff) gives a new one. Decimals are written normalized,
so 1.50 and 1.5 kWh are the same input.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal

from billing.determinants.model import Determinants
from billing.period import BillingPeriod
from billing.tariff.model import Tariff


def _canon(value: Decimal) -> str:
    return f"{value.normalize():f}"


def bill_id(tariff: Tariff, det: Determinants, period: BillingPeriod, quality: str) -> str:
    """sha-256 over meter, period, tariff digest and every determinant the bill is priced from."""
    content: dict[str, object] = {
        "meter": det.meter_id,
        "period": [period.name, period.start.isoformat(), period.end.isoformat()],
        "billed": [det.period_start.isoformat(), det.period_end.isoformat()],
        "tariff": tariff.digest,
        "source": det.source,
        "import": sorted((k, _canon(v)) for k, v in det.import_kwh.items()),
        "export": sorted((k, _canon(v)) for k, v in det.export_kwh.items()),
        "max_demand": [
            None if det.max_demand_kw is None else _canon(det.max_demand_kw),
            None if det.max_demand_at is None else det.max_demand_at.isoformat(),
        ],
        "tier_prior": _canon(det.tier_prior_kwh),
        "estimated": _canon(det.estimated_kwh),
        "quality": quality,
        "notes": list(det.notes),
    }
    if tariff.demand is not None and tariff.demand.periods:
        # demand over named periods is priced from the import series itself
        content["series"] = [_series_digest(s.obis, s.start, s.interval, s.kwh) for s in det.series]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _series_digest(
    obis: str, start: datetime, interval: timedelta, kwh: tuple[Decimal, ...]
) -> str:
    text = f"{obis}|{start.isoformat()}|{int(interval.total_seconds())}|" + ",".join(
        map(_canon, kwh)
    )
    return hashlib.sha256(text.encode()).hexdigest()

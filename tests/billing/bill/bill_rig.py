"""Shared makings of the bill tests: a tariff from TOML text, determinants for a period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from billing.determinants.model import Determinants, Source
from billing.tariff.load import load_tariff
from billing.tariff.model import Tariff

REPO = Path(__file__).resolve().parents[3]
TARIFFS = REPO / "config" / "tariffs"


def tariff_from_text(tmp_path: Path, text: str, name: str = "tariff.toml") -> Tariff:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_tariff(path)


def example(name: str) -> Tariff:
    return load_tariff(TARIFFS / f"{name}.toml")


def kwh(**values: str) -> dict[str, Decimal]:
    return {name: Decimal(value) for name, value in values.items()}


def det(
    start: datetime,
    end: datetime,
    imports: dict[str, Decimal],
    exports: dict[str, Decimal] | None = None,
    *,
    meter_id: str = "m-0001",
    source: Source = "registers",
    max_demand_kw: str | None = None,
    tier_prior_kwh: str = "0",
    notes: tuple[str, ...] = (),
) -> Determinants:
    return Determinants(
        meter_id=meter_id,
        period_start=start,
        period_end=end,
        source=source,
        import_kwh=imports,
        export_kwh=exports or {},
        max_demand_kw=None if max_demand_kw is None else Decimal(max_demand_kw),
        tier_prior_kwh=Decimal(tier_prior_kwh),
        notes=notes,
    )


def amounts(bill_lines: object) -> list[str]:
    return [str(line.amount) for line in bill_lines]  # type: ignore[attr-defined]

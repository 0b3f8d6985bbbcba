"""The fleet file's `[billing]` section: which tariffs, which meter bills on which, VEE settings,
export settings, prepaid accounts and meter replacements.

```toml
[billing]
tariffs = ["tariffs/sim-tou.toml"]     # files relative to the fleet file; one id each
default_tariff = "sim-tou"             # optional when there is one tariff
[[billing.assign]]                     # optional: other tariffs for some meters or groups
tariff = "commercial-demand"
meters = ["gprs-000101"]
groups = ["shops"]                     # groups of [service.commands]
[billing.vee]                          # validation and estimation (billing/vee/settings.py)
[billing.export]                       # export files (billing/export/model.py)
[billing.prepay]                       # prepaid accounts (billing/prepay/settings.py)
[[billing.replacements]]               # meter exchanges (billing/determinants/inputs.py)
```

The head-end's own config loader keeps this section as it is (billing is not the head-end's
business); it is checked here, and every problem names the file, the key path and the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing.determinants.inputs import Replacement
from billing.export.model import ExportSettings
from billing.prepay.settings import PrepaySettings
from billing.tariff.calendar import TariffCalendar
from billing.tariff.load import TariffError, load_tariff
from billing.tariff.model import Tariff
from billing.vee.settings import VeeSettings
from headend.config import ConfigError, HeadendConfig
from headend.config.errors import ConfigProblem
from headend.config.loader import problems_from


class TariffAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tariff: str = Field(min_length=1)
    meters: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list, description="[service.commands] groups")


class BillingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tariffs: list[str] = Field(min_length=1, description="tariff files, relative to the fleet file")
    default_tariff: str | None = None
    assign: list[TariffAssignment] = Field(default_factory=list)
    vee: VeeSettings = Field(default_factory=VeeSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    prepay: PrepaySettings | None = None
    replacements: list[Replacement] = Field(default_factory=list)
    batch_meters: int = Field(default=250, ge=1, le=10_000, description="meters per store read")


@dataclass(frozen=True)
class Billing:
    """The checked `[billing]` section with its tariffs loaded."""

    config: HeadendConfig
    settings: BillingSettings
    tariffs: dict[str, Tariff]
    default: Tariff | None
    assigned: dict[str, Tariff]  # meter id -> tariff, where not the default
    _calendars: dict[str, TariffCalendar] = field(default_factory=dict)
    _labels: dict[str, Callable[[datetime, timedelta, int], list[str]]] = field(
        default_factory=dict
    )

    def customers(self) -> list[str]:
        """Meters that bill: the fleet's meters, less the feeders' own meters."""
        load = self.config.fleet.load
        feeders = {f.meter for f in load.feeders} if load is not None else set()
        return [m.id for m in self.config.fleet.meters if m.id not in feeders]

    def tariff_of(self, meter_id: str) -> Tariff:
        tariff = self.assigned.get(meter_id, self.default)
        if tariff is None:
            raise ConfigError.one(
                self.config.path,
                "billing.default_tariff",
                f"meter {meter_id!r} has no tariff: name a default_tariff or assign one",
            )
        return tariff

    def calendar(self, tariff: Tariff) -> TariffCalendar:
        found = self._calendars.get(tariff.id)
        if found is None:
            found = self._calendars[tariff.id] = TariffCalendar(tariff)
        return found

    def labels(self, tariff: Tariff) -> Callable[[datetime, timedelta, int], list[str]]:
        """The tariff calendar's slot labels, worked out once per span: every meter of a
        tariff has the same month (a shared list: callers do not change it)."""
        found = self._labels.get(tariff.id)
        if found is None:
            found = self._labels[tariff.id] = functools.lru_cache(maxsize=64)(
                self.calendar(tariff).labels
            )
        return found

    def replacements_of(self, meter_id: str) -> list[Replacement]:
        return [r for r in self.settings.replacements if r.meter_id == meter_id]


def billing_of(config: HeadendConfig) -> Billing:
    """The fleet file's billing section, checked; `ConfigError` names each problem."""
    path = config.path
    raw: Any = config.fleet.billing
    if raw is None:
        raise ConfigError.one(path, "billing", "no [billing] section: name the tariffs to bill on")
    try:
        settings = BillingSettings.model_validate(raw)
    except ValidationError as exc:
        problems = [
            ConfigProblem(f"billing.{p.path}" if p.path else "billing", p.reason)
            for p in problems_from(exc, raw)
        ]
        raise ConfigError(path, problems) from None
    tariffs: dict[str, Tariff] = {}
    for index, name in enumerate(settings.tariffs):
        file = (path.parent / name).resolve()
        if not file.is_file():
            raise ConfigError.one(path, f"billing.tariffs[{index}]", f"{file}: no such file")
        try:
            tariff = load_tariff(file)
        except TariffError as exc:
            raise ConfigError.one(exc.path, exc.key, exc.reason) from None
        if tariff.id in tariffs:
            raise ConfigError.one(
                path, f"billing.tariffs[{index}]", f"tariff id {tariff.id!r} is defined twice"
            )
        tariffs[tariff.id] = tariff
    return Billing(
        config,
        settings,
        tariffs,
        _default(config, settings, tariffs),
        _assigned(config, settings, tariffs),
    )


def _default(
    config: HeadendConfig, settings: BillingSettings, tariffs: dict[str, Tariff]
) -> Tariff | None:
    if settings.default_tariff is None:
        return next(iter(tariffs.values())) if len(tariffs) == 1 else None
    found = tariffs.get(settings.default_tariff)
    if found is None:
        raise ConfigError.one(
            config.path,
            "billing.default_tariff",
            f"no tariff {settings.default_tariff!r}; the tariffs are {sorted(tariffs)}",
        )
    return found


def _assigned(
    config: HeadendConfig, settings: BillingSettings, tariffs: dict[str, Tariff]
) -> dict[str, Tariff]:
    known = {m.id for m in config.fleet.meters}
    groups = config.fleet.service.commands.groups
    problems: list[ConfigProblem] = []
    assigned: dict[str, Tariff] = {}
    for index, rule in enumerate(settings.assign):
        where = f"billing.assign[{index}]"
        tariff = tariffs.get(rule.tariff)
        if tariff is None:
            problems.append(ConfigProblem(f"{where}.tariff", f"no tariff {rule.tariff!r}"))
            continue
        members = list(rule.meters)
        for name in rule.groups:
            if name not in groups:
                problems.append(ConfigProblem(f"{where}.groups", f"no group {name!r}"))
            members += groups.get(name, [])
        for meter in members:
            if meter not in known:
                problems.append(ConfigProblem(f"{where}.meters", f"no meter {meter!r}"))
            elif meter in assigned and assigned[meter].id != tariff.id:
                problems.append(
                    ConfigProblem(
                        where, f"meter {meter!r} is already on tariff {assigned[meter].id!r}"
                    )
                )
            else:
                assigned[meter] = tariff
    if problems:
        raise ConfigError(config.path, problems)
    return assigned

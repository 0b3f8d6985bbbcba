"""Who fee control covers, from the fleet file: the prepaid meters of `[billing.prepay]`, and the
households it never disconnects for credit (the section's `holds` plus every household whose
`[load]` priority class is medical or critical: a supply guarantee the load manager honours is
one fee control honours too). Every problem is a `ConfigError` naming the file and key."""

from __future__ import annotations

from dataclasses import dataclass

from billing.config import Billing
from billing.prepay.settings import PrepaySettings
from headend.config import ConfigError
from headend.config.load import LoadSettings


@dataclass(frozen=True, slots=True)
class PrepayScope:
    settings: PrepaySettings
    meters: list[str]  # prepaid, in fleet order
    holds: frozenset[str]  # never disconnected for credit


def supply_guarantee(load: LoadSettings | None, settings: PrepaySettings) -> frozenset[str]:
    """The section's holds and the households of a protected (medical, critical) class."""
    protected = (
        {meter for meter, house in load.households.items() if house.priority.protected}
        if load is not None
        else set()
    )
    return frozenset(settings.holds) | frozenset(protected)


def prepay_scope(billing: Billing) -> PrepayScope | None:
    """None without a `[billing.prepay]` section."""
    settings = billing.settings.prepay
    if settings is None:
        return None
    config = billing.config
    fleet = config.fleet
    try:
        chosen = settings.prepaid_meters(
            [m.id for m in fleet.meters], fleet.service.commands.groups
        )
    except ValueError as exc:
        key, _, reason = str(exc).partition(": ")
        raise ConfigError.one(config.path, key, reason) from None
    customers = set(billing.customers())
    # all_meters means the customers: a feeder's own meter at the transformer pays no bill
    meters = [m for m in chosen if m in customers or m in settings.meters]
    for meter in meters:
        tariff = billing.tariff_of(meter)
        if tariff.money.currency != settings.currency:
            raise ConfigError.one(
                config.path,
                "billing.prepay.currency",
                f"{settings.currency}, but meter {meter} bills on tariff {tariff.id!r} in "
                f"{tariff.money.currency}: the daily deduction would mix currencies",
            )
    return PrepayScope(settings, meters, supply_guarantee(fleet.load, settings))

"""What the prepay extension is made of, from a fleet file as a user writes it: the prepaid
meters (all_meters: the customers, not a feeder's own meter), the supply-guarantee holds (the
section's own plus every medical or critical household of `[load]`), no extension without the
section, refusals naming the file and key; `headend pay` refusing what is no payment (exit 2,
nothing stored) and a payment above the credit cap (exit 1), in its own process, no meter
contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.config import billing_of
from billing.prepay.store import account, payments
from billing.service.prepay import PrepayExtension, prepay_extension
from billing.service.scope import prepay_scope
from billing.store.database import open_billing_db
from billing.store.schema import MIGRATIONS
from headend.config import ConfigError, load_config
from headend.service.clock import WallClock
from headend.service.daemon import Daemon
from headend.store import SqliteStore
from tests.billing.service.rig import TARIFF
from tests.cli.inprocess import cli
from tests.load.feeder_fleet import FEEDER_LOAD, FEEDER_METERS, fleet_file

FLEET = (
    """
[site]
database = "{db}"

[service]
control_socket = "{sock}"
"""
    + FEEDER_METERS
    + FEEDER_LOAD
    + """priority = "critical"
"""
)

PREPAY = """
[billing]
tariffs = ["{tariff}"]

[billing.prepay]
{selection}
currency = "{currency}"
opening_balance = "10.00"
first_alarm_balance = "6.00"
second_alarm_balance = "3.00"
disconnect_balance = "0.00"
reconnect_balance = "5.00"
max_credit = "50.00"
holds = {holds}
"""


def fleet(
    tmp_path: Path,
    *,
    selection: str = "all_meters = true",
    currency: str = "EUR",
    holds: str = "[]",
    billing: bool = True,
) -> Path:
    text = FLEET.format(db=tmp_path / "site.sqlite3", sock=tmp_path / "headend.sock")
    if billing:
        text += PREPAY.format(tariff=TARIFF, selection=selection, currency=currency, holds=holds)
    return fleet_file(tmp_path, text)


async def test_all_meters_are_the_customers_and_protected_households_are_held(
    tmp_path: Path,
) -> None:
    config = load_config(fleet(tmp_path, holds='["h1"]'), env={})
    scope = prepay_scope(billing_of(config))
    assert scope is not None
    assert scope.meters == ["h1", "h2", "h3"]  # feeder-1 measures the transformer: no account
    # h1 by the section's holds, h2 medical and h3 critical by their [load] priority class
    assert scope.holds == {"h1", "h2", "h3"}

    site = str(tmp_path / "site.sqlite3")
    async with await SqliteStore.open(site) as store:
        daemon = Daemon(config, store, WallClock(), database_url=site)
        ext = await prepay_extension(daemon)
        assert isinstance(ext, PrepayExtension)
        try:
            assert ext.runner.meters == ["h1", "h2", "h3"]
            assert ext.runner.fee.holds == {"h1", "h2", "h3"}
            assert set(ext.ops()) == {"pay", "payments_import", "emergency_credit"}
        finally:
            await ext.stop()

    only_medical = load_config(fleet(tmp_path, selection='meters = ["h1", "h2"]'), env={})
    scope = prepay_scope(billing_of(only_medical))
    assert scope is not None
    assert scope.meters == ["h1", "h2"] and scope.holds == {"h2", "h3"}


async def test_no_prepay_section_no_extension(tmp_path: Path) -> None:
    config = load_config(fleet(tmp_path, billing=False), env={})
    site = str(tmp_path / "site.sqlite3")
    async with await SqliteStore.open(site) as store:
        assert await prepay_extension(Daemon(config, store, WallClock(), database_url=site)) is None


def test_refusals_name_the_file_and_key(tmp_path: Path) -> None:
    config = load_config(fleet(tmp_path, selection='meters = ["h1", "nobody"]'), env={})
    with pytest.raises(ConfigError) as caught:
        prepay_scope(billing_of(config))
    assert str(config.path) in str(caught.value)
    assert "billing.prepay.meters[1]" in str(caught.value)
    assert "no meter nobody in the fleet" in str(caught.value)

    config = load_config(fleet(tmp_path, currency="CNY"), env={})
    with pytest.raises(ConfigError) as caught:
        prepay_scope(billing_of(config))
    assert "billing.prepay.currency" in str(caught.value)
    assert "tariff 'sim-tou' in EUR" in str(caught.value)


async def test_pay_refuses_what_is_no_payment_and_above_the_cap(tmp_path: Path) -> None:
    path = str(fleet(tmp_path))
    for args, why in (
        (["nobody", "5.00"], "no prepaid meter 'nobody'"),
        (["feeder-1", "5.00"], "no prepaid meter 'feeder-1'"),
        (["h1", "abc"], "amount 'abc' is not a number"),
        (["h1", "1.234"], "amount 1.234 has more decimals than EUR's 2 minor units"),
        (["h1", "-5"], "amount -5 must be above 0"),
        (["h1", "5.00", "--at", "2026-11-03T09:00"], "give its offset"),
    ):
        status, _out, err = await cli("pay", "--config", path, *args, "--ref", "R-1")
        assert status == 2, (args, err)
        assert err.startswith("headend pay:") and why in err, err
    # 10.00 opening + 40.01 = 50.01, above the cap 50.00: refused, not truncated
    status, out, err = await cli("pay", "--config", path, "h1", "40.01", "--ref", "R-2")
    assert status == 1, err
    assert "payment R-2: refused (the balance would be 50.01 EUR, above the credit cap" in out
    # 10.00 + 40.00 = 50.00: at the cap, applied; the same reference again: once
    status, out, err = await cli("pay", "--config", path, "h1", "40.00", "--ref", "R-3")
    assert status == 0, err
    assert "h1: balance 50.00 EUR, state normal, relay connected" in out
    status, out, err = await cli("pay", "--config", path, "h1", "40.00", "--ref", "R-3")
    assert status == 0, err
    assert "payment R-3: duplicate (reference R-3 already applied" in out
    db = await open_billing_db(tmp_path / "site.sqlite3", MIGRATIONS)
    try:
        assert await payments(db) == [("R-2", "40.01", "refused"), ("R-3", "40.00", "applied")]
        found = await account(db, "h1")
        assert found is not None and str(found.balance) == "50.00"
    finally:
        await db.close()

    no_prepay = str(fleet(tmp_path, billing=False))
    status, _out, err = await cli("pay", "--config", no_prepay, "h1", "5.00", "--ref", "R-4")
    assert status == 2 and "no [billing]" in err, err

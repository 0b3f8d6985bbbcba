"""What a billing command opens: the fleet file's billing section, the reading store and
billing's tables in the same database (`--db` overrides the site database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from billing.config import Billing, billing_of
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from headend.cli.database import check_url, open_url, site_url
from headend.config import load_config
from headend.store import Store


@dataclass(frozen=True)
class BillingSession:
    billing: Billing
    store: Store
    db: BillingDb
    url: str


@asynccontextmanager
async def billing_session(config_file: str, db: str | None) -> AsyncIterator[BillingSession]:
    config = load_config(config_file)
    billing = billing_of(config)
    url = check_url(site_url(config, db))
    store = await open_url(url)
    try:
        billing_db = await open_billing_db(url, MIGRATIONS)
        try:
            yield BillingSession(billing, store, billing_db, url)
        finally:
            await billing_db.close()
    finally:
        await store.close()

"""A real SQLite store filled with known readings, for the commands that print stored data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from drivers.contract import Reading
from headend.store import SqliteStore

START = datetime(2025, 3, 1, tzinfo=UTC)
METERS = ("m-a", "m-b", "m-c")
CODES = ("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255")


def known_readings(hours: int = 24) -> list[Reading]:
    """Every meter x code x hour, value = a function of all three (so each row is checkable)."""
    rows = []
    for m, meter in enumerate(METERS):
        for c, obis in enumerate(CODES):
            for h in range(hours):
                at = START + timedelta(hours=h)
                rows.append(
                    Reading(
                        meter_id=meter,
                        obis=obis,
                        value=Decimal(f"{m}{c}{h:05d}.5"),
                        unit="V" if obis.startswith("1.0.32") else "Wh",
                        capture_time=at,
                        receive_time=at + timedelta(seconds=5),
                    )
                )
    return rows


async def fill_store(path: Path, readings: list[Reading]) -> None:
    async with await SqliteStore.open(path) as store:
        await store.save_readings(readings)

"""The last capture time stored per meter and profile in SQLite: where the next profile read of
a meter starts, so an outage leaves no gap. A mark never moves backwards (MAX in the upsert; the
times are `rows.utc_text`, whose text order is time order)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from headend.store.rows import utc_text

_MARK = """
INSERT INTO profile_marks (profile, meter_id, last_capture) VALUES (?, ?, ?)
ON CONFLICT (profile, meter_id) DO UPDATE SET
    last_capture = MAX(last_capture, excluded.last_capture)
"""

# one JSON parameter for the meters: a whole fleet in one query
_SELECT = """
SELECT meter_id, last_capture FROM profile_marks
WHERE profile = ? AND meter_id IN (SELECT value FROM json_each(?))
"""


async def upsert_marks(db: aiosqlite.Connection, profile: str, marks: dict[str, datetime]) -> None:
    """Move each meter's mark forward to its new time (never back). Inside a transaction."""
    rows = [(profile, meter_id, utc_text(when)) for meter_id, when in marks.items()]
    await db.executemany(_MARK, rows)


async def select_marks(
    db: aiosqlite.Connection, profile: str, meter_ids: Sequence[str]
) -> dict[str, datetime]:
    async with db.execute(_SELECT, (profile, json.dumps(list(meter_ids)))) as cursor:
        rows = await cursor.fetchall()
    return {meter_id: datetime.fromisoformat(text) for meter_id, text in rows}

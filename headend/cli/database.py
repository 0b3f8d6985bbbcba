"""Which SQLite file a command reads from or writes to: `--db`, else the site database.

`site.database` is used as written in the fleet file: a relative path is relative to the current
directory, as for `headend read --config` and `headend demo` (the file is created on first use).
"""

from __future__ import annotations

from pathlib import Path

from headend.config import HeadendConfig


def site_database(config: HeadendConfig, db: str | None) -> Path:
    return Path(db) if db is not None else Path(config.fleet.site.database)

"""Which store a command reads from or writes to: `--db`, else the site database.

`site.database` is used as written in the fleet file: a bare path or `sqlite:///path` is a SQLite
file (a relative path is relative to the current directory, as for `headend read --config` and
`headend demo`; the file is created on first use); `postgresql://user@host/db` is a PostgreSQL
database (its password, if any, from the URL or PGPASSWORD).
"""

from __future__ import annotations

from pathlib import Path

from headend.config import HeadendConfig


def site_database(config: HeadendConfig, db: str | None) -> Path:
    """The SQLite file of commands that work on a file only."""
    return Path(db) if db is not None else Path(config.fleet.site.database)


def site_url(config: HeadendConfig, db: str | None) -> str:
    """The store as given (`--db` first): a path, `sqlite:///path` or `postgresql://...`."""
    return db if db is not None else config.fleet.site.database


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store URL (a bare path or sqlite:///path), None for a server."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        return None
    return Path(url)


def existing_store(config: HeadendConfig | None, db: str | None) -> str:
    """The store URL of a command that only reads: a SQLite file must already exist (opening
    would create an empty one and print nothing)."""
    from headend.cli.usage import UsageError

    if config is None and db is None:
        raise UsageError("give --config FILE (its site database) or --db URL")
    url = db if db is not None or config is None else site_url(config, None)
    assert url is not None
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: no such database (run the head-end first, or give --db)")
    return url

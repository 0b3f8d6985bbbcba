"""Which store a command reads from or writes to: `--db`, else the site database.

`site.database` and `--db` take the same forms: a bare path or `sqlite:///path` is a SQLite file
(a relative path is relative to the current directory, as for `headend read --config` and
`headend demo`; the file is created on first use); `postgresql://user[:password]@host[:port]/db`
(or `postgres://`) is a PostgreSQL database (its password from the URL or PGPASSWORD). A
command names the store in its output with `shown_url`, which never contains the password.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from headend.cli.usage import UsageError
from headend.config import HeadendConfig
from headend.store import STORE_FORMS, Store, open_store

SERVER_SCHEMES = ("postgresql", "postgres")


def site_url(config: HeadendConfig, db: str | None) -> str:
    """The store as given (`--db` first): a path, `sqlite:///path` or `postgresql://...`."""
    return db if db is not None else config.fleet.site.database


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store URL (a bare path or sqlite:///path), None for a server."""
    if _scheme(url) == "sqlite":
        return Path(url[len("sqlite:///") :])
    if "://" in url:
        return None
    return Path(url)


def shown_url(url: str) -> str:
    """The store as output may name it: a SQLite file as given, a server URL without its
    password (`postgresql://user@host:port/db`)."""
    if _scheme(url) in ("", "sqlite"):
        return url
    scheme, rest = url.split("://", 1)
    # the last "@" ends the user part: a password may hold an unescaped "@"
    netloc_end = rest.find("/", rest.rfind("@") + 1 if "@" in rest else 0)
    netloc, path = (rest, "") if netloc_end < 0 else (rest[:netloc_end], rest[netloc_end:])
    if "@" in netloc:
        user_info, host = netloc.rsplit("@", 1)
        netloc = f"{user_info.split(':', 1)[0]}@{host}"
    # a password may also come as a query parameter
    path = path.split("?", 1)[0]
    return f"{scheme}://{netloc}{path}"


def check_url(url: str) -> str:
    """`url` if it has a form `open_store` takes, else a usage error listing the forms."""
    scheme = _scheme(url)
    if scheme == "sqlite" and (not url.startswith("sqlite:///") or url == "sqlite:///"):
        raise UsageError(f"{url}: a SQLite URL is sqlite:///path; use {STORE_FORMS}")
    if scheme and scheme not in ("sqlite", *SERVER_SCHEMES):
        raise UsageError(f"{shown_url(url)}: unsupported database URL scheme; use {STORE_FORMS}")
    if not url:
        raise UsageError(f"an empty database; use {STORE_FORMS}")
    if scheme in SERVER_SCHEMES:
        try:
            urlsplit(url).port  # noqa: B018 - parsing it raises for a bad port or host
        except ValueError as exc:
            raise _unusable(url, exc) from None
    return url


def existing_store(config: HeadendConfig | None, db: str | None) -> str:
    """The store URL of a command that only reads: a SQLite file must already exist (opening
    would create an empty one and print nothing). A server is only checked by opening it."""
    if config is None and db is None:
        raise UsageError("give --config FILE (its site database) or --db URL")
    url = db if db is not None or config is None else site_url(config, None)
    assert url is not None
    path = sqlite_file(check_url(url))
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: no such database (run the head-end first, or give --db)")
    return url


async def open_url(url: str) -> Store:
    """Open the store `url` names; a URL the driver cannot parse (a bad port, say) is a usage
    error, a database that cannot be used a `StoreError` (neither carries the password)."""
    try:
        return await open_store(check_url(url))
    except ValueError as exc:
        raise _unusable(url, exc) from None


def _unusable(url: str, exc: ValueError) -> UsageError:
    message = str(exc)
    rest = url.split("://", 1)[-1]
    password = rest.rsplit("@", 1)[0].partition(":")[2] if "@" in rest else ""
    if password:
        message = message.replace(password, "***")
    return UsageError(f"{shown_url(url)}: {message}; use {STORE_FORMS}")

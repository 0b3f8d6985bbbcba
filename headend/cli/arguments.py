"""Argument types and the options of `headend read` (bad values are usage errors, status 2)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from drivers.obis import normalize_obis


def obis_code(text: str) -> str:
    try:
        return normalize_obis(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def iso_time(text: str) -> datetime:
    """ISO-8601 instant; without a UTC offset it is taken as UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address: {text!r}") from None


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="*",
        metavar="URL|METER_ID",
        help="a device URL, or with --config the ids of configured meters (none: all)",
    )
    parser.add_argument("--config", metavar="FILE", help="fleet file (TOML)")
    parser.add_argument("--plan", metavar="NAME", help="with --config: a reading plan by name")
    parser.add_argument(
        "--obis",
        metavar="CODE",
        type=obis_code,
        action="append",
        help="OBIS code to read, repeatable (default: the standard register set)",
    )
    parser.add_argument("--profile", metavar="CODE", type=obis_code, help="load profile to read")
    parser.add_argument(
        "--from", dest="start", metavar="ISO", type=iso_time, help="profile start (UTC default)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="ISO", type=iso_time, help="profile end (default: now)"
    )
    dlms = parser.add_argument_group("DLMS options for a URL (override its query)")
    dlms.add_argument(
        "--client-address", type=address, metavar="N", help="client SAP (16 none, 17 LLS, 1 HLS)"
    )
    dlms.add_argument(
        "--server-address", type=address, metavar="N", help="server logical address (1)"
    )
    dlms.add_argument("--server-physical", type=address, metavar="N", help="HDLC physical address")
    dlms.add_argument("--auth", choices=["none", "low", "hls-gmac"], help="authentication")
    dlms.add_argument("--cipher", action="store_true", help="global ciphering (security suite 0)")
    parser.add_argument(
        "--timeout", type=positive_float, metavar="S", help="deadline for each reply (seconds)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line per value")
    parser.add_argument("--meter-id", metavar="ID", help="name for a URL's meter (default: URL)")
    parser.add_argument(
        "--retries", type=int, default=1, metavar="N", help="retries per meter for a URL (1)"
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store for readings and invocation counters: a SQLite path, sqlite:///path or "
        "postgresql://... (default with --config: the "
        "site database; with a URL: readings not stored, counters of a ciphered meter in "
        "$XDG_STATE_HOME/headend/counters.sqlite3)",
    )
    parser.add_argument(
        "--counters",
        metavar="PATH",
        help="with a URL: SQLite file for the invocation counters of a ciphered meter "
        "(overrides --db and the per-user state file)",
    )

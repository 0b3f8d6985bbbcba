"""NATS subjects of one site: jobs and dead letters per lane, results per job (pure functions).

`headend.<site>.jobs.<lane>`, `headend.<site>.dead.<lane>`, `headend.<site>.results.<job>`.
A site name must be one subject token; a job id or channel id is escaped into one (`token`).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Lane = Literal["priority", "bulk"]
LANES: tuple[Lane, ...] = get_args(Lane)

_SITE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE = re.compile(r"[A-Za-z0-9_-]")


def check_site(site: str) -> str:
    """`site` if it can be a subject token; ValueError saying what is allowed otherwise."""
    if not _SITE.match(site):
        raise ValueError(
            f"site name {site!r} cannot be part of a NATS subject: use 1-64 letters, digits, "
            "'_' or '-' (no dots, spaces, '*' or '>')"
        )
    return site


def token(text: str) -> str:
    """`text` as one subject token (also a valid KV key): other characters as `=XX` (UTF-8).

    Injective ('=' itself is escaped), so two ids never share a token.
    """
    if not text:
        raise ValueError("an empty id cannot be a subject token")
    return "".join(
        ch if _SAFE.match(ch) else "".join(f"={b:02X}" for b in ch.encode()) for ch in text
    )


def check_lane(lane: str) -> Lane:
    for known in LANES:
        if lane == known:
            return known
    raise ValueError(f"unknown lane {lane!r}: one of {', '.join(LANES)}")


def jobs(site: str, lane: str) -> str:
    return f"headend.{check_site(site)}.jobs.{check_lane(lane)}"


def all_jobs(site: str) -> str:
    return f"headend.{check_site(site)}.jobs.>"


def dead(site: str, lane: str) -> str:
    return f"headend.{check_site(site)}.dead.{check_lane(lane)}"


def all_dead(site: str) -> str:
    return f"headend.{check_site(site)}.dead.>"


def results(site: str, job_id: str) -> str:
    return f"headend.{check_site(site)}.results.{token(job_id)}"


def all_results(site: str) -> str:
    return f"headend.{check_site(site)}.results.>"


def consumer_name(consumer: str, lane: str) -> str:
    return f"{consumer}-{check_lane(lane)}"

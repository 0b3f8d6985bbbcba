"""The roles of `headend run` and `headend collect`: one process (`all`), or a scheduler and
workers sharing a NATS JetStream cluster and a PostgreSQL store.

`cluster_role_settings` refuses a scheduler or worker role without what it needs (a `[cluster]`
section, a PostgreSQL store) with a message naming what is missing. `scheduler_config` lets the
scheduler's reading service publish every job of a run at once: the queue, not the scheduler,
holds them until a worker slot is free.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from headend.cluster.settings import ClusterSettings
from headend.config.loader import HeadendConfig

Role = Literal["all", "scheduler", "worker"]
ROLES: tuple[Role, ...] = get_args(Role)

# channel jobs a scheduler has published and awaits at once; each costs a future and a small
# message in the stream, and far more than the workers' slots keeps every worker busy
SCHEDULER_JOBS_IN_FLIGHT = 100_000

_SERVER_SCHEMES = ("postgresql", "postgres")


class RoleRefused(ValueError):
    """A scheduler or worker role asked for without what it needs; the message says what."""


def is_server_store(url: str) -> bool:
    """True for a PostgreSQL URL (the store every node of a cluster can reach)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme.split("+", 1)[0] in _SERVER_SCHEMES


def cluster_role_settings(config: HeadendConfig, url: str, role: str) -> ClusterSettings | None:
    """The `[cluster]` settings a role runs with (None for `all`); RoleRefused if it cannot."""
    if role == "all":
        return None
    if role not in ROLES:
        raise RoleRefused(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    missing: list[str] = []
    if config.fleet.cluster is None:
        missing.append(f'a [cluster] section in {config.path} (nats_url = "nats://host:4222", ...)')
    if not is_server_store(url):
        missing.append(
            "a PostgreSQL store shared by every node (site.database or --db "
            "postgresql://user@host/db), not a SQLite file"
        )
    if missing:
        raise RoleRefused(f"role {role} needs " + " and ".join(missing))
    return config.fleet.cluster


def scheduler_config(config: HeadendConfig) -> HeadendConfig:
    """`config` with the reading service's bound on jobs in progress raised for the queue."""
    fleet = config.fleet
    limit = max(fleet.reading.max_channels, SCHEDULER_JOBS_IN_FLIGHT)
    reading = fleet.reading.model_copy(update={"max_channels": limit})
    return dataclasses.replace(config, fleet=fleet.model_copy(update={"reading": reading}))

"""The roles of `headend run` and `headend collect`: one process (`all`), or a scheduler and
workers sharing a NATS JetStream cluster and a PostgreSQL store.

`cluster_role_settings` refuses a scheduler or worker role without what it needs (a `[cluster]`
section, a PostgreSQL store) with a message naming what is missing. `scheduler_config` sets the
scheduler's bound on jobs in progress (`[cluster] scheduler_jobs_in_flight`: published and
awaited at once), and `scheduler_executor` is the queue executor the scheduler runs them with.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from headend.cluster.connection import Cluster, open_cluster
from headend.cluster.queue_executor import QueueExecutor
from headend.cluster.settings import ClusterSettings
from headend.config.loader import HeadendConfig

Role = Literal["all", "scheduler", "worker"]
ROLES: tuple[Role, ...] = get_args(Role)

# how often a job waiting for its report also looks for it in the results stream (a report
# missed while NATS reconnected): one request per job in flight each time, so not too often
REPORT_LOOK_BACK_S = 30.0

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


def scheduler_config(config: HeadendConfig, settings: ClusterSettings) -> HeadendConfig:
    """`config` with the reading service's bound on jobs in progress set for the queue: each
    job in flight costs the scheduler a waiter (and a look into the results stream now and
    then), and a few times the workers' slots keep every worker busy."""
    fleet = config.fleet
    reading = fleet.reading.model_copy(update={"max_channels": settings.scheduler_jobs_in_flight})
    return dataclasses.replace(config, fleet=fleet.model_copy(update={"reading": reading}))


def scheduler_executor(cluster: Cluster) -> QueueExecutor:
    return QueueExecutor(cluster, look_back_s=REPORT_LOOK_BACK_S)


async def connect(settings: ClusterSettings, site: str, name: str) -> Cluster:
    """The cluster, opened; RoleRefused for what the operator must fix (a site name that
    cannot be a NATS subject, an incomplete set of NATS credentials in the environment)."""
    try:
        return await open_cluster(settings, site, name=name)
    except ValueError as exc:
        raise RoleRefused(str(exc)) from None

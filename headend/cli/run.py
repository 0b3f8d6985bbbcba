"""`headend run`: the service, until SIGINT or SIGTERM.

Logs one line per run and per problem on stderr (`--log-file` to write them to a file as well);
an expected failure (a meter, a channel, a sink that is down) is a line, never a traceback.
Exit status: 0 after a clean stop, 2 for a usage or configuration error, 3 when the store cannot
be opened, 4 when NATS cannot be reached (scheduler and worker roles).

`--role` (headend/service/roles.py): `all` (the default) is the one-process head-end; with a
`[cluster]` section and a PostgreSQL store, `scheduler` runs the service with its channel jobs
sent to NATS JetStream, and `worker` (headend/service/cluster_worker.py) reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from headend.cli.database import check_url, open_url, site_url
from headend.cli.usage import UsageError
from headend.cluster.connection import Cluster, ClusterError
from headend.cluster.settings import ClusterSettings
from headend.config import HeadendConfig, load_config
from headend.service.clock import clock_for
from headend.service.cluster_worker import default_worker_id, run_worker
from headend.service.daemon import Daemon, run_until_stopped
from headend.service.roles import (
    ROLES,
    RoleRefused,
    cluster_role_settings,
    connect,
    scheduler_config,
    scheduler_executor,
)
from headend.store.base import Store

CLUSTER_UNREACHABLE_STATUS = 4


def _logging(args: argparse.Namespace) -> None:
    root = logging.getLogger()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        handlers.append(logging.FileHandler(args.log_file))
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    for name in ("headend.service", "headend.sinks", "headend.events"):
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)


async def run_service(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _logging(args)
    url = check_url(site_url(config, args.db))
    role = getattr(args, "role", "all")
    try:
        settings = cluster_role_settings(config, url, role)
    except RoleRefused as exc:
        raise UsageError(str(exc)) from None
    store = await open_url(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if settings is None:
            daemon = Daemon(config, store, clock_for(config.fleet), database_url=url)
            await run_until_stopped(daemon, stop)
        elif role == "worker":
            worker_id = args.worker_id or default_worker_id()
            await run_worker(config, store, settings, stop, worker_id=worker_id)
        else:
            await _run_scheduler(config, store, settings, url, stop)
    except ClusterError as exc:
        sys.stderr.write(f"headend run: {exc}\n")
        return CLUSTER_UNREACHABLE_STATUS
    except RoleRefused as exc:  # a site name that cannot be a NATS subject, NATS credentials
        raise UsageError(str(exc)) from None
    finally:
        await store.close()
    return 0


async def _run_scheduler(
    config: HeadendConfig, store: Store, settings: ClusterSettings, url: str, stop: asyncio.Event
) -> None:
    cluster: Cluster = await connect(settings, config.fleet.site.name, "headend scheduler")
    executor = scheduler_executor(cluster)
    try:
        scheduling = scheduler_config(config, settings)
        daemon = Daemon(
            scheduling,
            store,
            clock_for(config.fleet),
            database_url=url,
            executor=executor,
            cluster=cluster,
        )
        await run_until_stopped(daemon, stop)
    finally:
        await executor.close()
        await cluster.close()


def add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the head-end service: scheduled collection, events, outbox, on-demand reads",
        description=(
            "Run the head-end until SIGINT/SIGTERM: the fleet file's plans are collected on their\n"
            "schedules ('every 15 minutes', 'daily at 00:05', 'monthly on day 1 at 00:10',\n"
            "'weekly on monday at 02:00'; UTC), with re-reads of failed meters and back-fill of\n"
            "profile gaps; events and run statistics are stored; readings and events are\n"
            "forwarded to the [sinks] (MQTT, InfluxDB); meters' pushes are received on\n"
            "[service] push_port. A run missed while the head-end was down, or cut short by a\n"
            "crash, is caught up once at the next start.\n\n"
            "  headend run --config config/service.toml\n"
            "  headend status --config config/service.toml      # from another shell\n"
            "  headend read --config config/service.toml gprs-0001   # served by the service\n\n"
            "Several machines (a [cluster] section: NATS JetStream; a PostgreSQL store that every\n"
            "machine reaches; the same fleet file everywhere):\n"
            "  headend run --config fleet.toml --role scheduler   # once: plans, commands, status\n"
            "  headend run --config fleet.toml --role worker      # on each worker machine\n"
            "  headend collect --config fleet.toml --plan daily --role scheduler   # one run now\n"
            "The scheduler publishes channel jobs to JetStream and needs its workers to read\n"
            "them; a worker pulls jobs, reads the meters, stores the readings and needs no\n"
            "scheduler and no control socket; it runs [cluster] worker_jobs channel jobs at\n"
            "once (`headend -v run ... --role worker`: one log line per job).\n\n"
            "Secrets from the environment: HEADEND_MQTT_PASSWORD, HEADEND_INFLUXDB_TOKEN, key\n"
            "references HEADEND_KEY_<REF>_PASSWORD/_AUTH/_BLOCK; NATS: HEADEND_NATS_USER and\n"
            "HEADEND_NATS_PASSWORD, or HEADEND_NATS_TOKEN, or HEADEND_NATS_CREDS (a file).\n"
            "Exit status: 0 stopped cleanly, 2 usage/configuration error (also: a scheduler or\n"
            "worker role without [cluster] or without PostgreSQL), 3 store unusable, 4 NATS\n"
            "unreachable."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="fleet file (TOML)")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store: a SQLite path, sqlite:///path or postgresql://user@host/db "
        "(overrides site.database)",
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    parser.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: one process (default); scheduler: plans, commands and status, channel jobs "
        "to the [cluster]; worker: reads the cluster's channel jobs",
    )
    parser.add_argument(
        "--worker-id",
        metavar="ID",
        help="a worker's name in `headend status` (default: host-pid)",
    )
    parser.set_defaults(handler=run_service)

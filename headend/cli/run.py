"""`headend run`: the service, until SIGINT or SIGTERM.

Logs one line per run and per problem on stderr (`--log-file` to write them to a file as well);
an expected failure (a meter, a channel, a sink that is down) is a line, never a traceback.
Exit status: 0 after a clean stop, 2 for a usage or configuration error, 3 when the store cannot
be opened.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from headend.cli.database import check_url, open_url, site_url
from headend.config import load_config
from headend.service.clock import clock_for
from headend.service.daemon import Daemon, run_until_stopped


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
    store = await open_url(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        daemon = Daemon(config, store, clock_for(config.fleet), database_url=url)
        await run_until_stopped(daemon, stop)
    finally:
        await store.close()
    return 0


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
            "Secrets from the environment: HEADEND_MQTT_PASSWORD, HEADEND_INFLUXDB_TOKEN, key\n"
            "references HEADEND_KEY_<REF>_PASSWORD/_AUTH/_BLOCK.\n"
            "Exit status: 0 stopped cleanly, 2 usage/configuration error, 3 store unusable."
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
    parser.set_defaults(handler=run_service)

"""The `headend` command: argument parsing and exit codes (0 ok, 1 some values failed, 2 usage,
3 the store failed: what was read is kept in a spool file next to the database when it could not
be stored).

Every expected problem (bad URL, bad config, unknown meter) is one clear line on stderr and exit
status 2, never a traceback. Output cut short by its reader (`headend readings --json | head`)
ends quietly with status 141, what a shell reports for a tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from billing.cli import add_billing_parsers
from drivers.registry import DeviceUrlError
from headend.cli.audit import add_audit_parser
from headend.cli.collect import add_collect_parser
from headend.cli.command import add_command_parser
from headend.cli.demand_response import add_dr_parser
from headend.cli.demo import add_demo_parsers
from headend.cli.events import add_events_parsers
from headend.cli.grid_demo import add_grid_demo_parser
from headend.cli.read import add_read_parser
from headend.cli.readings import add_readings_parser
from headend.cli.run import add_run_parser
from headend.cli.simulate_month import add_simulate_month_parser
from headend.cli.status import add_status_parser
from headend.cli.usage import UsageError
from headend.config import ConfigError
from headend.reading import RunFailed
from headend.store import StoreError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`
STORE_FAILED_STATUS = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headend",
        description=(
            "Smart-metering head-end: read meters (DLMS/COSEM, Modbus, DL/T 645), store readings,\n"
            "command them, keep feeders under capacity, bill, simulate fleets. Start with:\n"
            "  headend demo                                        # the grid demo, ~5 minutes\n"
            "  headend demo-read --config config/demo.toml         # the reading demo\n\n"
            "  headend simulate --config config/demo.toml          # serve the demo fleet, then:\n"
            "  headend collect --config config/demo.toml --plan demo\n"
            "  headend run --config config/demo.toml               # the service, on schedules\n"
            "  headend readings --config config/demo.toml --meter gprs-0001 --json\n"
            "  headend read dlms+tcp://10.0.0.7:4059 --obis 1.0.1.8.0.255\n"
            "  headend simulate-month --config config/demo.toml --month 2026-10\n"
            "  headend bill --config config/demo.toml --period 2026-10   # bills, VEE\n"
            "  headend export --config config/demo.toml --period 2026-10 --format csv --out x/\n\n"
            "`headend COMMAND --help` explains each command. Exit status 141: output cut short."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log driver details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_parser(commands)
    add_status_parser(commands)
    add_read_parser(commands)
    add_collect_parser(commands)
    add_readings_parser(commands)
    add_command_parser(commands)
    add_audit_parser(commands)
    add_dr_parser(commands)
    add_events_parsers(commands)
    add_grid_demo_parser(commands)
    add_demo_parsers(commands)
    add_simulate_month_parser(commands)
    # the entry point composes the head-end and billing: nothing else in headend imports billing
    add_billing_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = cast(Handler, args.handler)
    # A fleet read allocates ~200 readings per meter, and tens of thousands wait for the store at
    # once: with the default threshold (700) the collector rescans them over and over (about a
    # sixth of a 1,000-meter collect's CPU). Nothing here builds reference cycles worth chasing.
    gc.set_threshold(50_000, 20, 20)
    try:
        status = asyncio.run(handler(args))
        sys.stdout.flush()  # a reader that went away shows here, inside the handler below
        return status
    except BrokenPipeError:
        return quiet_broken_pipe()
    except (ConfigError, DeviceUrlError, UsageError) as exc:
        sys.stderr.write(f"headend {args.command}: {exc}\n")
        return 2
    except (StoreError, RunFailed) as exc:
        # not a usage problem and not a meter's: the readings' home is broken; say so loudly
        sys.stderr.write(f"headend {args.command}: store failed: {exc}\n")
        if isinstance(exc, RunFailed) and exc.spool is not None:
            sys.stderr.write(f"headend {args.command}: {exc.kept} readings kept in {exc.spool}\n")
        return STORE_FAILED_STATUS
    except KeyboardInterrupt:
        return 130


def quiet_broken_pipe() -> int:
    """Stop quietly when stdout's reader has gone (Python's documented recipe): stdout now goes
    to /dev/null, so the flush at interpreter exit cannot raise a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_STATUS


if __name__ == "__main__":
    sys.exit(main())

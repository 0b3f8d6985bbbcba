"""The `headend` command: argument parsing and exit codes (0 ok, 1 some values failed, 2 usage).

Every expected problem (bad URL, bad config, unknown meter) is one clear line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from drivers.registry import DeviceUrlError
from headend.cli.demo import add_demo_parsers
from headend.cli.read import UsageError, add_read_parser
from headend.config import ConfigError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headend",
        description=(
            "Smart-metering head-end: read meters (DLMS/COSEM, Modbus, DL/T 645), store readings,\n"
            "simulate fleets. Start with:  headend demo --config config/demo.toml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log driver details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_read_parser(commands)
    add_demo_parsers(commands)
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
    try:
        return asyncio.run(handler(args))
    except (ConfigError, DeviceUrlError, UsageError) as exc:
        sys.stderr.write(f"headend {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Run `headend.cli.main.main([...])` in this process, for tests that run many commands.

A subprocess costs ~1.8 s of CPU in imports alone; in-process a read-only command takes
milliseconds. `main` runs its own event loop (`asyncio.run`), so it runs in a worker thread while
the test's loop keeps serving simulated meters. stdout and stderr are captured by redirecting
`sys.stdout`/`sys.stderr`, which every command writes through (rich's console and `sys.stdout.write`
look them up at each write).
"""

from __future__ import annotations

import asyncio
import gc
import io
from contextlib import redirect_stderr, redirect_stdout

from headend.cli.main import main


def _call(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    threshold = gc.get_threshold()  # main tunes the collector for a big run: put it back
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = main(args)
            except SystemExit as exc:  # argparse's own usage errors
                status = exc.code if isinstance(exc.code, int) else 2
    finally:
        gc.set_threshold(*threshold)
    return status, out.getvalue(), err.getvalue()


async def cli(*args: str) -> tuple[int, str, str]:
    """`headend ARGS` in-process: (status, stdout, stderr)."""
    async with asyncio.timeout(120):  # hang guard only
        return await asyncio.to_thread(_call, list(args))

"""Store client processes for the store tests: spawned from a test module, started together.

A process module (`reserver`, `postgres_reserver`, `event_writer`) prints "ready" once its store
is open, waits for a line on stdin, does its work and prints the result.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def spawn(module: str, *args: str) -> asyncio.subprocess.Process:
    """`python -m module args...` from the repository root, its stdin, stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_together(
    procs: Sequence[asyncio.subprocess.Process], *, timeout_s: float = 90
) -> list[bytes]:
    """Wait until every process is ready, start them all at once, and return what each printed;
    each must exit 0 (`timeout_s` is only a hang guard)."""
    async with asyncio.timeout(timeout_s):
        for proc in procs:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
        for proc in procs:  # the starting gun, to all of them before any is awaited
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        outputs = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    return [out for out, _ in outputs]

"""Run the `headend` CLI as a real subprocess (shared by the CLI test modules)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def headend(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """Run `python -m headend.cli.main ARGS`; returns (status, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
        cwd=cwd or ROOT,
    )
    async with asyncio.timeout(60):  # hang guard only
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()

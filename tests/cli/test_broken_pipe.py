"""Output cut short by its reader (`| head -3`) ends quietly: no traceback, status 141.

The commands run as real subprocesses writing into a real pipe that the test closes after a few
lines, as `head` does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.stored import fill_store, known_readings
from tests.headend.subprocess_cli import ROOT

BROKEN_PIPE_STATUS = 141


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2 MB of JSON lines: far more than a pipe buffers, so the writer meets the close."""
    path = tmp_path_factory.mktemp("pipe") / "big.sqlite3"
    asyncio.run(fill_store(path, known_readings(hours=1500)))
    return path


def head(args: list[str], lines: int = 3) -> tuple[list[bytes], int, str]:
    """Run `headend ARGS | head -LINES`: (lines read, exit status, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    # Unbuffered, CPython's text stdout drops the rest of a partial write to a closed pipe without
    # an error, so a one-write table would end with 0; a user's shell has buffered stdout.
    env.pop("PYTHONUNBUFFERED", None)
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [sys.executable, "-m", "headend.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    got = [proc.stdout.readline() for _ in range(lines)]
    proc.stdout.close()  # the reader goes away, as `head` does after its lines
    err = proc.stderr.read().decode()
    return got, proc.wait(timeout=60), err


def test_readings_json_into_head(big_db: Path) -> None:
    got, status, err = head(["readings", "--db", str(big_db), "--json"])
    assert all(line.startswith(b'{"meter": "m-a"') for line in got)
    assert "Traceback" not in err and "BrokenPipe" not in err and err == ""
    assert status == BROKEN_PIPE_STATUS


def test_readings_table_into_head(big_db: Path) -> None:
    # the table goes through rich, which would otherwise exit 1 on its own
    got, status, err = head(["readings", "--db", str(big_db), "--meter", "m-b"], lines=5)
    assert b"value(s)" in b"".join(got)
    assert err == ""
    assert status == BROKEN_PIPE_STATUS


def test_output_read_whole_is_status_0(big_db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "headend.cli.main", "readings", "--db", str(big_db), "--json"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.count(b"\n") == len(known_readings(hours=1500))

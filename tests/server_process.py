"""What every throwaway server of the tests shares: finding its binary, the end of its log for an
error message, and stopping it (terminate, then kill)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def find_binary(path: str, package: str) -> str:
    """`path` if it exists, else its name on PATH; a clear failure naming the package."""
    found = path if Path(path).is_file() else shutil.which(Path(path).name)
    if not found:
        raise RuntimeError(f"{Path(path).name} not found: install {package} (.ci/run does)")
    return found


def log_tail(log: Path, size: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)

"""Where the NAESB ESPI 3.3 schema is: it is handed to the project beside the repository
(`../shared/schemas/espi-3.3`) and never copied into it. A clean clone elsewhere (CI clones the
repository into a fresh folder) finds it beside the repository it was cloned from;
`HEADEND_ESPI_SCHEMAS` names the folder outright."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RELATIVE = Path("shared/schemas/espi-3.3")


def _origin() -> Path | None:
    """The local repository this one was cloned from, if any."""
    try:
        url = subprocess.run(
            ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not url or "://" in url or ":" in url.split("/", 1)[0]:
        return None  # a remote URL, not a folder on this machine
    return Path(url.removeprefix("file://"))


def espi_schemas() -> Path:
    """The schema folder (the first candidate that holds usage.xsd, else the usual place)."""
    candidates = []
    if os.environ.get("HEADEND_ESPI_SCHEMAS"):
        candidates.append(Path(os.environ["HEADEND_ESPI_SCHEMAS"]))
    candidates.append(REPO.parent / RELATIVE)
    origin = _origin()
    if origin is not None:
        candidates.append(origin.resolve().parent / RELATIVE)
    for folder in candidates:
        if (folder / "usage.xsd").is_file():
            return folder
    return REPO.parent / RELATIVE

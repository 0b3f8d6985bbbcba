"""A killed export leaves nothing half-written: an export runs in a child process that stops at a
known point (its progress hook blocks after the third meter, or just before the manifest) and is
SIGKILLed there; then the directory is checked, and a later run cleans up and completes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from billing.export.model import ExportSettings, ExportSite
from billing.export.run import write_export
from tests.billing.export import fleet as f

REPO = Path(__file__).parents[3]

CHILD = """
import sys, time
from pathlib import Path
from billing.export.model import ExportSettings, ExportSite
from billing.export.run import write_export
from tests.billing.export import fleet as f

fmt, out, stop_at = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
seen = []

def hook(stage):
    seen.append(stage)
    if (stop_at == "item" and seen.count("item") == 3) or stage == stop_at == "manifest":
        print("STOPPED", flush=True)
        time.sleep(120)  # killed here

site = ExportSite("demo", version="9.9", settings=ExportSettings(nmi=f.NMIS))
write_export(f.fleet(), period=f.PERIOD, fmt=fmt, out_dir=out, site=site, hook=hook)
print("FINISHED", flush=True)
"""

SITE = ExportSite("demo", version="9.9", settings=ExportSettings(nmi=f.NMIS))


def run_and_kill(fmt: str, out: Path, stop_at: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, fmt, str(out), stop_at],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STOPPED"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def verify(out: Path, fmt: str) -> None:
    """The directory holds exactly the data file and a manifest that vouches for it."""
    manifest = json.loads((out / f"demo-2026-10-{fmt}.manifest.json").read_text())
    (entry,) = manifest["files"]
    data = (out / entry["name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) == entry["bytes"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [entry["name"], f"demo-2026-10-{fmt}.manifest.json"]
    )


@pytest.mark.parametrize("fmt", ["csv", "nem12", "cim", "espi"])
def test_killed_mid_file_leaves_no_final_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    run_and_kill(fmt, out, "item")
    names = [p.name for p in out.iterdir()]
    # Only the temporary of the killed process: nothing under a final name, no manifest.
    assert len(names) == 1 and names[0].startswith(".") and ".partial-" in names[0], names
    # A later run removes the dead process's temporary and completes.
    write_export(f.fleet(), period=f.PERIOD, fmt=fmt, out_dir=out, site=SITE)
    verify(out, fmt)


def test_killed_before_the_manifest_over_an_earlier_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_export(f.fleet(), period=f.PERIOD, fmt="nem12", out_dir=out, site=SITE)
    manifest = out / "demo-2026-10-nem12.manifest.json"
    earlier = json.loads(manifest.read_text())
    run_and_kill("nem12", out, "manifest")
    # The data file is complete under its final name (renamed only once written and synced),
    # and the earlier manifest is gone: it cannot vouch for a file the killed run replaced.
    assert not manifest.exists()
    (entry,) = earlier["files"]
    data = (out / entry["name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]  # same data, same bytes
    assert [p.name for p in out.iterdir()] == [entry["name"]]
    write_export(f.fleet(), period=f.PERIOD, fmt="nem12", out_dir=out, site=SITE)
    verify(out, "nem12")

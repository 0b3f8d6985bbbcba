"""Smoke test of bench/billing.py at a tiny size: the command's last line is the JSON of its
figures, with the fields the issue asks for, and figures that agree with each other (every meter
billed and exported, a re-bill stores nothing new); never their speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"meters", "bill_per_s", "csv_per_s", "nem12_per_s", "cim_per_s", "espi_per_s"}


def test_last_line_is_the_json_of_the_figures() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.billing", "--meters", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert FIELDS <= set(figures)
    assert figures["meters"] == 3 and figures["bills"] == 3 and figures["bill_failed"] == 0
    assert figures["rebill_new"] == 0 and figures["rebill_same_total"] is True
    # a month of 15-minute import and export plus daily registers: 2 x 32 x 96 + 6 x 32 a meter
    assert figures["readings_stored"] >= 3 * 31 * 96 * 2
    assert all(figures[f"{fmt}_mb"] >= 0 for fmt in ("csv", "nem12", "cim", "espi"))
    assert "Billing a month of 3 meters" in done.stdout


def test_a_kept_month_is_billed_again_without_storing_it_again(tmp_path: Path) -> None:
    def run(*extra: str) -> tuple[dict[str, object], str]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.billing",
                "--meters",
                "2",
                "--keep",
                str(tmp_path),
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=110,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout

    first, _ = run("--formats", "nem12")
    assert isinstance(first["readings_stored"], int) and first["readings_stored"] > 0
    assert "nem12_per_s" in first and "csv_per_s" not in first
    again, shown = run("--formats", "csv,nem12")
    assert again["readings_stored"] is None and "stored by an earlier run" in shown
    assert again["bills"] == 2 and again["rebill_new"] == 0
    assert {"csv_per_s", "nem12_per_s"} <= set(again) and "cim_per_s" not in again


def test_an_unknown_format_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.billing", "--meters", "2", "--formats", "csv,xls"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--formats: unknown xls" in done.stderr

"""An export shared among worker processes (`headend export --workers N`): the joined file is byte
for byte the file one process writes, with the same manifest, for every format that is joined
(csv, nem12, cim); real spawned processes on the real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.jobs import export_parts
from tests.billing.export_fleet import headend, write_fleet

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = write_fleet(tmp_path_factory.mktemp("parts") / "fleet.toml", 6)
    status, _, err = headend("simulate-month", "--config", str(config), "--month", PERIOD)
    assert status == 0, err
    return config


def export(config: Path, fmt: str, out: Path, workers: int) -> dict[str, object]:
    status, stdout, err = headend(
        "export", "--config", str(config), "--period", PERIOD, "--format", fmt,
        "--out", str(out), "--workers", str(workers), "--json",
    )  # fmt: skip
    assert status == 0, err
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("fmt", sorted(export_parts.JOINABLE))
def test_parts_join_into_the_file_one_process_writes(
    fleet: Path, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = export(fleet, fmt, tmp_path / "one", 1)
    # six meters are too few to be worth processes: lower the bar so three share them (CSV too,
    # which is written by one process unless told: its parts join as well)
    monkeypatch.setattr(export_parts, "MIN_METERS_PER_PART", 2)
    monkeypatch.setattr(export_parts, "PARALLEL", frozenset(export_parts.JOINABLE))
    three = export(fleet, fmt, tmp_path / "three", 3)
    assert three["meters"] == one["meters"] == 6
    assert three["files"] == one["files"]  # name, SHA-256, bytes, records
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "three").iterdir())  # no scratch left
    for name in names:
        assert (tmp_path / "three" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_split_is_contiguous_and_even() -> None:
    ids = [f"m{i:02d}" for i in range(7)]
    assert export_parts.split(ids, 3) == [ids[0:3], ids[3:5], ids[5:7]]
    assert export_parts.split(ids[:2], 3) == [ids[0:1], ids[1:2]]

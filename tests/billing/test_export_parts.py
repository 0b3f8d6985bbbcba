"""An export shared among worker processes (`headend export --workers N`): the joined file is byte
for byte the file one process writes, with the same manifest, for every format that is joined
(csv, nem12, cim); real spawned processes on the real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_the_first_share_has_a_head_start() -> None:
    ids = [f"m{i:04d}" for i in range(1000)]
    shares = export_parts.split(ids, 2, 150)
    # the parent starts at once, the worker after its interpreter: 150 more for the parent
    assert [len(s) for s in shares] == [575, 425]
    assert shares == [ids[:575], ids[575:]]
    assert [len(s) for s in export_parts.split(ids, 3, 100)] == [400, 300, 300]
    assert [len(s) for s in export_parts.split(ids, 3, 0)] == [334, 333, 333]


def test_the_head_start_is_capped_at_an_even_share() -> None:
    ids = [f"m{i:02d}" for i in range(10)]
    # at most len // parts more: 5 of 10 in two parts, the rest split evenly (3 + 2 of the 5)
    assert [len(s) for s in export_parts.split(ids, 2, 150)] == [8, 2]
    assert [len(s) for s in export_parts.split(ids, 2, 5)] == [8, 2]
    assert [len(s) for s in export_parts.split(ids, 2, 2)] == [6, 4]


def test_tiny_fleets_get_no_empty_share() -> None:
    ids = ["a", "b", "c"]
    assert export_parts.split(ids, 3, 150) == [["a", "b"], ["c"]]  # 1 more for the first
    assert export_parts.split(ids[:2], 4, 150) == [["a"], ["b"]]
    assert export_parts.split(ids[:1], 2, 150) == [["a"]]
    assert export_parts.split([], 3, 150) == []


@given(meters=st.integers(0, 500), parts=st.integers(1, 8), head=st.integers(0, 300))
def test_shares_are_contiguous_even_and_non_empty(meters: int, parts: int, head: int) -> None:
    count = meters
    ids = [f"m{i:04d}" for i in range(count)]
    shares = export_parts.split(ids, parts, head)
    assert [m for share in shares for m in share] == ids  # every meter once, in order
    assert all(shares) and len(shares) <= parts
    extra = min(head, count // parts)  # what the first share has beyond an even share
    if count - extra >= parts:  # enough meters for every part
        assert len(shares) == parts
    if len(shares) > 1:
        rest = [len(s) for s in shares[1:]]
        assert max(rest) - min(rest) <= 1 and rest == sorted(rest, reverse=True)
        assert max(rest) <= len(shares[0]) - extra <= min(rest) + 1
    elif shares:
        assert len(shares[0]) == count

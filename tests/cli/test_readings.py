"""`headend readings` as a real subprocess over a real SQLite store."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from headend.cli.output import reading_json
from tests.cli.stored import CODES, METERS, START, fill_store, known_readings
from tests.headend.subprocess_cli import headend


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "site.sqlite3"
    await fill_store(path, known_readings())
    return path


async def test_json_lines_have_the_shape_of_read_json(db: Path) -> None:
    status, out, err = await headend("readings", "--db", str(db), "--meter", "m-b", "--json")
    assert status == 0, err
    expected = [r for r in known_readings() if r.meter_id == "m-b"]
    # same objects, byte for byte, as `headend read --json` would print for these readings
    assert out.splitlines() == [reading_json(r) for r in expected]


async def test_filters_or_within_an_option_and_across_options(db: Path) -> None:
    status, out, err = await headend(
        "readings",
        "--db",
        str(db),
        "--meter",
        "m-a",
        "--meter",
        "m-c",
        "--obis",
        "1-0:1.8.0*255",  # any OBIS spelling is accepted and normalised
        "--obis",
        "1.0.32.7.0.255",
        "--from",
        "2025-03-01T03:00",  # no offset: UTC
        "--to",
        "2025-03-01T05:00:00+00:00",
        "--json",
    )
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    got = {(r["meter"], r["obis"], datetime.fromisoformat(r["capture_time"]).hour) for r in rows}
    assert got == {
        (m, o, h) for m in ("m-a", "m-c") for o in (CODES[0], CODES[2]) for h in (3, 4, 5)
    }
    assert len(rows) == len(got) == 12
    one = next(r for r in rows if r["meter"] == "m-c" and r["obis"] == CODES[2])
    assert one["value"] == "2200003.5" and one["unit"] == "V" and one["quality"] == "ok"


async def test_site_database_of_the_config_and_the_table(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(f'[site]\nname = "t"\ndatabase = "{db}"\n')
    status, out, err = await headend(
        "readings", "--config", str(config), "--obis", CODES[1], "--to", START.isoformat()
    )
    assert status == 0, err
    assert "3 value(s)" in out
    for meter in METERS:
        assert meter in out
    assert "100000.5" in out and "Wh" in out


async def test_nothing_matches_is_not_an_error(db: Path) -> None:
    status, out, err = await headend("readings", "--db", str(db), "--meter", "nobody", "--json")
    assert (status, out) == (0, "")
    assert "no readings" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["readings"], "give --config FILE"),
        (["readings", "--db", "/nonexistent/x.sqlite3"], "no such database"),
        (["readings", "--db", "x", "--obis", "1.2"], "not an OBIS code"),
        (["readings", "--db", "x", "--from", "yesterday"], "not an ISO-8601 time"),
        (
            ["readings", "--db", "x", "--from", "2025-03-02", "--to", "2025-03-01"],
            "--from must not be after --to",
        ),
    ],
)
async def test_usage_errors_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    status, _out, err = await headend(*args, cwd=tmp_path)
    assert status == 2
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # a bad query creates no empty database

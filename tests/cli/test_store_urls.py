"""Every store URL form a user can type, in site.database and in --db, for every command.

Per form: one `headend collect` into it (a simulated DLMS and Modbus meter), one
`headend read --config` (a simulated DL/T 645 meter), an event and a run saved through the Store
API, then `readings`, `events`, `runs` and `status` must print what that store holds. With --db
the fleet file's own site database must stay untouched. The commands run in-process
(tests/cli/inprocess.py); one collect per form also runs as a real subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.cli.database import shown_url
from headend.config import load_config
from headend.config.fleet import TcpChannel
from headend.events.model import Event, EventOrigin
from headend.runs.model import RunStats
from headend.simulation import simulated_fleet
from headend.store import open_store
from tests.cli.inprocess import cli
from tests.conftest import free_port
from tests.headend.subprocess_cli import headend
from tests.loopback_fleet import loopback_channels, write_fleet_file
from tests.postgres_server import PASSWORD as PG_PASSWORD
from tests.postgres_server import PASSWORD_USER, PostgresServer

FLEET = (
    """
[site]
name = "urls"
database = "{database}"

[reading]
retries = 0

[simulation]
factor = 0.0
history = "PT1H"

[service]
control_socket = "{socket}"

[sinks.mqtt]
host = "127.0.0.1"
port = 1
"""
    + loopback_channels("gprs", "mbtcp", "line")
    + """
[[meters]]
id = "w-ok"
protocol = "dlms"
channel = "gprs"

[[meters]]
id = "mbt-1"
protocol = "modbus"
channel = "mbtcp"
unit_id = 1
model = "sdm120"

[[meters]]
id = "dl-1"
protocol = "dlt645"
channel = "line"
address = "230500000001"

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255", "1.0.32.7.0.255"]
schedule = "every 15 minutes"
"""
)

PASSWORD = "Sup3r-s3cret!pw"


def _forms() -> dict[str, Callable[[Path, str | None], str]]:
    """Each form a user types; given the test directory (the cwd) and a fresh PostgreSQL URL."""

    def pg(url: str | None) -> str:
        assert url is not None
        return url

    return {
        "bare-relative": lambda tmp, _pg: "var/site.sqlite3",
        "bare-absolute": lambda tmp, _pg: str(tmp / "abs" / "site.sqlite3"),
        "sqlite-relative": lambda tmp, _pg: "sqlite:///var/site.sqlite3",
        "sqlite-absolute": lambda tmp, _pg: f"sqlite:///{tmp / 'abs' / 'site.sqlite3'}",
        "postgresql": lambda tmp, url: pg(url),
        "postgres": lambda tmp, url: pg(url).replace("postgresql://", "postgres://", 1),
    }


FORMS = _forms()
SQLITE_FILES = {
    "bare-relative": "var/site.sqlite3",
    "bare-absolute": "abs/site.sqlite3",
    "sqlite-relative": "var/site.sqlite3",
    "sqlite-absolute": "abs/site.sqlite3",
}


def write_fleet(directory: Path, database: str) -> Path:
    socket = directory / "no-service.sock"
    return write_fleet_file(directory / "fleet.toml", FLEET, database=database, socket=socket)


def entries(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def sqlite_files(directory: Path) -> list[Path]:
    return list(directory.rglob("*.sqlite3"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's directory, also the current one: relative database paths land here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def store_url(form: str, workdir: Path, request: pytest.FixtureRequest) -> str:
    pg = request.getfixturevalue("pg_url") if form.startswith("postgres") else None
    return FORMS[form](workdir, pg)


def saved_event(at: datetime) -> Event:
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id="w-ok",
        channel_id="gprs",
        code=1001,
        name="collection_failed",
        text="no answer",
        time=at,
        received_at=at,
        source="registers",
        cause="timeout",
    )


def saved_run(at: datetime) -> RunStats:
    return RunStats(
        run_id="run-1",
        plan="registers",
        started_at=at,
        duration_s=1.5,
        attempted=3,
        ok=2,
        partial=0,
        failed=1,
        failed_by_cause={"timeout": 1},
        readings=6,
        stored=6,
    )


@pytest.mark.parametrize("mode", ["site.database", "--db"])
@pytest.mark.parametrize("form", list(FORMS))
async def test_every_command_on_every_url_form(
    form: str, mode: str, workdir: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(form, workdir, request)
    # with --db the fleet file names another (SQLite) database, which must never be created
    fleet = write_fleet(workdir, url if mode == "site.database" else "elsewhere/site.sqlite3")
    db = ["--db", url] if mode == "--db" else []
    config = load_config(fleet)
    async with simulated_fleet(config, configured_ports=True):
        status, out, err = await cli(
            "collect", "--config", str(fleet), "--plan", "registers",
            "--meters", "w-ok", "mbt-1", "--json", *db,
        )  # fmt: skip
        assert status == 0, out + err
        collected = sum(m["stored"] for m in json.loads(out)["meters"])
        assert collected > 0
        status, out, err = await cli("read", "--config", str(fleet), "dl-1", *db)
        assert status == 0, out + err
        assert "dl-1" in out

    now = datetime.now(UTC).replace(microsecond=0)
    store = await open_store(url)
    try:
        total = await store.count_readings()
        per_meter = {m: await store.count_readings(m) for m in ("w-ok", "mbt-1", "dl-1")}
        await store.save_events([saved_event(now)])
        await store.save_run(saved_run(now))
    finally:
        await store.close()
    assert total == collected + per_meter["dl-1"]
    assert all(per_meter.values()), per_meter

    status, out, err = await cli("readings", "--config", str(fleet), *db)
    assert status == 0, err
    assert f"{total} value(s)" in out
    assert all(meter in out for meter in per_meter)

    status, out, err = await cli("events", "--config", str(fleet), "--json", *db)
    assert status == 0, err
    [line] = out.splitlines()
    assert json.loads(line)["id"] == saved_event(now).key

    status, out, err = await cli("runs", "--config", str(fleet), "--json", *db)
    assert status == 0, err
    run, rate = map(json.loads, out.splitlines())
    assert run["run_id"] == "run-1"
    assert rate["daily_rate"]["plan"] == "registers" and rate["daily_rate"]["collected"] == 2

    status, out, err = await cli("status", "--config", str(fleet), "--json", *db)
    assert status == 0, err
    shown = json.loads(out)
    assert shown["running"] is False
    assert list(shown["next_runs"]) == ["registers"]
    # every new reading, the event and the run wait in the outbox of the configured sink
    assert [(o["sink"], o["depth"]) for o in shown["outbox"]] == [("mqtt", total + 2)]
    assert shown["latest_runs"]["registers"]["run_id"] == "run-1"

    if mode == "--db":
        # the read-only commands also take --db alone
        status, out, err = await cli("events", "--db", url, "--json")
        assert (status, len(out.splitlines())) == (0, 1), err
        assert not (workdir / "elsewhere").exists()
    if form in SQLITE_FILES:
        assert (workdir / SQLITE_FILES[form]).is_file()
    # no file named after the URL's text (sqlite:, postgresql:)
    assert {p.name for p in entries(workdir)} <= {"fleet.toml", "var", "abs"}


@pytest.mark.parametrize("form", list(FORMS))
async def test_collect_subprocess_into_each_form(
    form: str, workdir: Path, request: pytest.FixtureRequest
) -> None:
    """The real `headend` process, with relative paths resolved against its own cwd."""
    url = store_url(form, workdir, request)
    fleet = write_fleet(workdir, url)
    async with simulated_fleet(load_config(fleet), configured_ports=True):
        status, out, err = await headend(
            "collect", "--config", str(fleet), "--plan", "registers", "--meters", "w-ok",
            cwd=workdir,
        )  # fmt: skip
    assert status == 0, out + err
    # the table's title names the store (rich may wrap it anywhere)
    assert f"into{url}" in "".join(out.split())
    store = await open_store(url)
    try:
        assert await store.count_readings("w-ok") == 2
    finally:
        await store.close()


@pytest.mark.parametrize("form", list(FORMS))
async def test_read_a_url_into_each_form(
    form: str, workdir: Path, request: pytest.FixtureRequest
) -> None:
    """`headend read URL --db X`: a device URL's readings go to any store form."""
    url = store_url(form, workdir, request)
    fleet = write_fleet(workdir, "unused.sqlite3")
    config = load_config(fleet)
    [port] = [c.port for c in config.fleet.channels if isinstance(c, TcpChannel) and c.id == "gprs"]
    async with simulated_fleet(config, configured_ports=True):
        status, out, err = await cli(
            "read", f"dlms+tcp://127.0.0.1:{port}", "--meter-id", "by-url",
            "--obis", "1.0.1.8.0.255", "--db", url,
        )  # fmt: skip
    assert status == 0, out + err
    store = await open_store(url)
    try:
        assert await store.count_readings("by-url") == 1
    finally:
        await store.close()
    assert not (workdir / "unused.sqlite3").exists()


READ_ONLY = ["readings", "events", "runs", "status"]


async def test_a_password_in_the_url_is_never_printed(
    workdir: Path, pg_url: str, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url(pg_url.rsplit("/", 1)[1], user=PASSWORD_USER, password=PG_PASSWORD)
    fleet = write_fleet(workdir, url)
    async with simulated_fleet(load_config(fleet), configured_ports=True):
        status, out, err = await cli(
            "collect", "--config", str(fleet), "--plan", "registers", "--meters", "w-ok"
        )
    assert status == 0, out + err
    assert f"into{shown_url(url)}" in "".join(out.split())
    outputs = out + err
    for command in READ_ONLY:
        status, out, err = await cli(command, "--config", str(fleet))
        assert status == 0, out + err
        outputs += out + err
    status, out, err = await cli("readings", "--config", str(fleet), "--meter", "nobody")
    assert f"no readings in {shown_url(url)} match" in err
    assert "w-ok" in outputs and PG_PASSWORD not in outputs + out + err


@pytest.mark.parametrize("command", READ_ONLY)
@pytest.mark.parametrize("form", list(SQLITE_FILES))
async def test_a_missing_sqlite_file_is_a_usage_error(
    command: str, form: str, workdir: Path
) -> None:
    url = FORMS[form](workdir, None)
    fleet = write_fleet(workdir, url)
    for args in (["--config", str(fleet)], ["--config", str(fleet), "--db", url]):
        status, out, err = await cli(command, *args)
        assert (status, out) == (2, ""), err
        assert "no such database" in err and "Traceback" not in err
    assert not sqlite_files(workdir)  # nothing created by asking


@pytest.mark.parametrize("command", [*READ_ONLY, "collect", "read"])
async def test_an_unreachable_server_is_a_store_error_without_the_password(
    command: str, workdir: Path
) -> None:
    url = f"postgresql://headend:{PASSWORD}@127.0.0.1:{free_port()}/site"
    fleet = write_fleet(workdir, url)
    extra = {"collect": ["--plan", "registers"], "read": ["w-ok"]}.get(command, [])
    for db in ([], ["--db", url.replace("postgresql://", "postgres://")]):
        status, out, err = await cli(command, "--config", str(fleet), *extra, *db)
        assert status == 3, out + err
        assert "store failed" in err and "headend@127.0.0.1" in err
        assert PASSWORD not in out + err


@pytest.mark.parametrize(
    ("database", "needle"),
    [
        (f"postgresql://headend:{PASSWORD}@127.0.0.1:notaport/site", "Port could not be cast"),
        (f"mysql://headend:{PASSWORD}@127.0.0.1/site", "unsupported database URL scheme"),
        ("sqlite://site.sqlite3", "a SQLite URL is sqlite:///path"),
    ],
)
@pytest.mark.parametrize("command", [*READ_ONLY, "collect"])
async def test_a_url_of_no_known_form_is_a_usage_error(
    command: str, database: str, needle: str, workdir: Path
) -> None:
    fleet = write_fleet(workdir, database)
    extra = ["--plan", "registers"] if command == "collect" else []
    status, out, err = await cli(command, "--config", str(fleet), *extra)
    assert (status, out) == (2, ""), err
    assert needle in err and "postgresql://user[:password]@host" in err
    assert PASSWORD not in err and "Traceback" not in err
    assert not sqlite_files(workdir)

"""`headend read URL` as a real subprocess: a serial URL with overrides on a real pseudo-terminal,
and the invocation counters of ciphered meters kept across runs in the per-user state file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsMeterSecrets, DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from headend.cli.state import counters_path
from headend.store import SqliteStore
from tests.headend.subprocess_cli import headend

SECRETS = DlmsMeterSecrets(
    password=b"serial-pw",
    system_title=b"SIMCTR01",
    auth_key=bytes(range(0x40, 0x50)),
    block_key=bytes(range(0x60, 0x70)),
)
CLIENT_TITLE = "4845414445303031"
HLS_ENV = {
    "HEADEND_AUTH_KEY": SECRETS.auth_key.hex(),
    "HEADEND_BLOCK_KEY": SECRETS.block_key.hex(),
    "HEADEND_SYSTEM_TITLE": CLIENT_TITLE,
}
ENERGY = "1.0.1.8.0.255"


@pytest.fixture
async def sim() -> AsyncIterator[DlmsSimulator]:
    async with DlmsSimulator(SimClock(factor=60.0)) as simulator:
        for i, name in enumerate(("s1", "s2", "hls")):
            meter = SimulatedMeter(name, simulator.clock, seed=i, history=timedelta(hours=1))
            simulator.add_meter(meter, SECRETS)
        yield simulator


async def test_serial_url_with_command_line_overrides(sim: DlmsSimulator) -> None:
    device = await sim.serve_hdlc_pty(["s1", "s2"])
    url = f"dlms+serial://{device}?baud=9600"
    status, out, err = await headend(
        "read",
        url,
        "--auth",
        "low",
        "--server-physical",
        str(sim.physical_address("s2")),
        "--timeout",
        "5",
        "--obis",
        ENERGY,
        "--json",
        "--meter-id",
        "s2",
        env={"HEADEND_PASSWORD": SECRETS.password.decode()},
    )
    assert status == 0, err
    assert "unknown scheme" not in err
    assert out.count('"obis": "1.0.1.8.0.255"') == 1 and '"meter": "s2"' in out


async def test_dlms_option_on_a_modbus_url_is_a_usage_error() -> None:
    status, out, err = await headend(
        "read", "modbus+tcp://127.0.0.1:502?unit=1&model=sdm120", "--auth", "low"
    )
    assert (status, out) == (2, "")
    assert "--auth applies to DLMS URLs only" in err and "Modbus" in err
    assert "Traceback" not in err


async def _ciphered_read(port: int, env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    return await headend(
        "read",
        f"dlms+tcp://127.0.0.1:{port}",
        "--auth",
        "hls-gmac",
        "--cipher",
        "--obis",
        ENERGY,
        "--meter-id",
        "hls",
        *extra,
        env=env,
    )


async def _client_counter(path: Path) -> int | None:
    async with await SqliteStore.open(path) as store:
        # the key the DLMS session persists under: meter id, client system title, client SAP
        return await store.load_counter(f"dlms:hls:{CLIENT_TITLE.lower()}:1")


async def test_ciphered_reads_keep_counters_in_the_state_file(
    sim: DlmsSimulator, tmp_path: Path
) -> None:
    port = await sim.serve_wrapper("hls")
    env = HLS_ENV | {"XDG_STATE_HOME": str(tmp_path / "state")}
    state = counters_path(env)
    assert state == tmp_path / "state" / "headend" / "counters.sqlite3"

    status, _out, err = await _ciphered_read(port, env)
    assert status == 0, err
    assert err.count(f"invocation counters kept in {state}") == 1
    first = await _client_counter(state)
    assert first is not None and first > 0

    status, _out, err = await _ciphered_read(port, env)
    assert status == 0, err  # the meter accepted the second run's counters
    second = await _client_counter(state)
    assert second is not None and second > first

    # Control: a fresh counter file starts again at 0, which this meter refuses as a replay;
    # this is what every run did before the state file.
    fresh = tmp_path / "fresh.sqlite3"
    status, _out, err = await _ciphered_read(port, env, "--counters", str(fresh))
    assert status == 1
    assert f"invocation counters kept in {fresh}" in err


async def test_db_overrides_the_state_file(sim: DlmsSimulator, tmp_path: Path) -> None:
    port = await sim.serve_wrapper("hls")
    env = HLS_ENV | {"XDG_STATE_HOME": str(tmp_path / "state")}
    db = tmp_path / "site.sqlite3"
    status, _out, err = await _ciphered_read(port, env, "--db", str(db))
    assert status == 0, err
    assert "invocation counters kept" not in err
    assert not counters_path(env).exists()
    assert (await _client_counter(db) or 0) > 0


async def test_plain_reads_leave_no_state_file(sim: DlmsSimulator, tmp_path: Path) -> None:
    port = await sim.serve_wrapper("s1")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    status, _out, err = await headend(
        "read", f"dlms+tcp://127.0.0.1:{port}", "--obis", ENERGY, env=env
    )
    assert (status, err) == (0, "")
    assert not (tmp_path / "state").exists()


def test_state_dir_follows_xdg(tmp_path: Path) -> None:
    assert counters_path({"XDG_STATE_HOME": "/srv/st"}) == Path("/srv/st/headend/counters.sqlite3")
    home = Path.home() / ".local" / "state" / "headend" / "counters.sqlite3"
    assert counters_path({}) == home
    assert counters_path({"XDG_STATE_HOME": "relative/dir"}) == home  # invalid per the spec

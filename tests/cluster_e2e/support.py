"""The pieces of the scale-out end-to-end tests, all real processes and servers.

* `cluster_fleet`: the simulator's fleet file plus a PostgreSQL site database, a `[cluster]`
  section with short timings (jobs redelivered and leases expired within seconds), a control
  socket and optionally a channel nobody listens on (its meter's job fails every delivery).
* `Worker`: `headend run --role worker -v` as a subprocess, its log in a file; SIGKILL or SIGTERM.
* `Process`: any other long-running CLI command (`headend collect --role scheduler`, `headend
  run --role scheduler`) with its output kept.
* `Database`: what the workers stored, read with asyncpg; `install_counter_log` records every
  change of the counters table (a trigger), so a test sees each invocation-counter block taken.

Every wait is a hang guard only; nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from headend.simulation.generator import to_toml
from tests.conftest import free_port
from tests.headend.subprocess_cli import ROOT

HANG_GUARD_S = 180.0
PLAN = "daily-registers"
DEAD_CHANNEL = "dead-line"
DEAD_METER = "dead-line-m1"

# short timings: a lost job is redelivered, a dead worker's lease expires, within seconds
CLUSTER = {
    "ack_wait_s": 3.0,
    "max_deliver": 3,
    "nak_backoff_s": [0.5],
    "lease_ttl_s": 3.0,
    "heartbeat_s": 0.5,
    "fetch_wait_s": 0.3,
    "job_timeout_s": 600.0,
    "connect_timeout_s": 30.0,
}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    clean["COLUMNS"] = "200"
    return clean


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds (a hang guard, not a timing assertion)."""
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.1)  # another process's state: nothing to wait on
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


def cluster_fleet(
    fleet_file: Path,
    dest: Path,
    *,
    database: str,
    nats_url: str,
    dead_channel: bool = False,
    scheduled: tuple[str, ...] = (),
) -> Path:
    """The fleet file for the cluster; of the scheduled plans only those in `scheduled` kept."""
    data: dict[str, Any] = tomllib.loads(fleet_file.read_text())
    data["site"]["database"] = database
    data["service"] = {"control_socket": str(dest.parent / "headend.sock"), "shutdown_grace_s": 30}
    data["plans"] = [
        p for p in data["plans"] if p.get("schedule") is None or p["name"] in scheduled
    ]
    data["reading"] = {**data.get("reading", {}), "retries": 1, "breaker_failures": 2}
    data["cluster"] = {"nats_url": nats_url, **CLUSTER}
    if dead_channel:
        # a closed port: every attempt is refused, the breaker opens, the job fails as a whole
        data["channels"].append({"id": DEAD_CHANNEL, "host": "127.0.0.1", "port": free_port()})
        data["meters"].append(
            {"id": DEAD_METER, "protocol": "dlt645", "channel": DEAD_CHANNEL,
             "address": "000000990001"}
        )  # fmt: skip
    dest.write_text(to_toml(data))
    return dest


class Process:
    """A CLI command running in the background; stdout and stderr kept in files."""

    def __init__(self, directory: Path, name: str, *args: str) -> None:
        self.args = args
        self.out = directory / f"{name}.out"
        self.err = directory / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "headend.cli.main", *self.args,
                stdout=out, stderr=err, env=env(), cwd=ROOT,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    async def wait(self) -> int:
        assert self.proc is not None
        try:
            async with asyncio.timeout(HANG_GUARD_S):
                return await self.proc.wait()
        except TimeoutError:
            raise AssertionError(f"{self.args[:1]} did not end: {self.log()[-3000:]}") from None

    async def signal(self, signum: int) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
        return await self.wait()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Worker(Process):
    def __init__(self, directory: Path, config: Path, worker_id: str) -> None:
        super().__init__(
            directory, worker_id, "-v", "run", "--config", str(config), "--role", "worker",
            "--worker-id", worker_id,
        )  # fmt: skip
        self.worker_id = worker_id


def collect(directory: Path, config: Path, *extra: str) -> Process:
    return Process(
        directory, "collect", "collect", "--config", str(config), "--plan", PLAN,
        "--role", "scheduler", "--json", *extra,
    )  # fmt: skip


_COUNTER_LOG = """
CREATE TABLE counter_log (
    key text NOT NULL, old_value bigint NOT NULL, new_value bigint NOT NULL,
    backend int NOT NULL, client_port int
);
CREATE FUNCTION log_counter() RETURNS trigger AS $$
BEGIN
    INSERT INTO counter_log VALUES (
        NEW.key, COALESCE(CASE WHEN TG_OP = 'UPDATE' THEN OLD.value END, 0), NEW.value,
        pg_backend_pid(), inet_client_port());
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER counters_logged AFTER INSERT OR UPDATE ON counters
    FOR EACH ROW EXECUTE FUNCTION log_counter();
"""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def install_counter_log(self) -> None:
        """After the store's schema exists: log each change of a counter (old, new, who)."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(_COUNTER_LOG)
        finally:
            await conn.close()

    async def client_counter_blocks(self) -> list[asyncpg.Record]:
        """Each block of client invocation counters reserved: key, (old, new], connection."""
        return await self.fetch(
            "SELECT key, old_value, new_value, backend, client_port FROM counter_log "
            "WHERE key NOT LIKE '%:meter' ORDER BY key, old_value"
        )


def kill(worker: Worker) -> None:
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGKILL)

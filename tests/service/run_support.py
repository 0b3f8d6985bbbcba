"""`headend simulate` and `headend run` as real subprocesses, for the service's end-to-end tests.

* `Simulator`: `headend simulate --meters N ... --write-config FILE` (a generated fleet on
  loopback, its simulated clock accelerated), stopped by SIGTERM.
* `write_run_config`: the simulator's fleet file plus what `headend run` needs (site database,
  control socket, shutdown grace, sinks), optionally with fewer plans: written as a new file.
* `HeadendRun`: `headend run --config FILE` with its log in a file; its control socket asked for
  the status (what `headend status --json` shows as the live part); stopped by a signal.
* `headend(...)`: any other CLI command as a subprocess (tests/headend/subprocess_cli.py).

Everything waits with generous hang guards only; nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from headend.service.control import ask
from headend.simulation.generator import to_toml
from tests.brokers import MQTT_PASSWORD, MQTT_USER
from tests.conftest import free_port
from tests.headend.subprocess_cli import ROOT, headend

__all__ = ["ROOT", "HeadendRun", "Simulator", "headend", "json_lines", "until", "write_run_config"]

HANG_GUARD_S = 120.0
FREQUENT_PLANS = ("load-profile", "instantaneous")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


async def until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = HANG_GUARD_S
) -> None:
    """Poll `check` until it holds (a hang guard, not a timing assertion)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.1)  # polling another process: no event to wait on
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Simulator:
    """`headend simulate` serving a generated fleet until stopped (SIGTERM)."""

    def __init__(self, directory: Path, *shape: str, factor: float, latency_ms: float) -> None:
        self.path = directory / "simulated.toml"
        self.args = [
            "simulate",
            *shape,
            "--factor",
            f"{factor:g}",
            "--latency-ms",
            f"{latency_ms:g}",
            "--gprs-port",
            str(free_port()),
            "--write-config",
            str(self.path),
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Simulator:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "headend.cli.main",
            *self.args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=_env(),
            cwd=ROOT,
        )
        proc = self.proc

        async def written() -> bool:
            if proc.returncode is not None:
                _out, err = await proc.communicate()
                raise AssertionError(f"headend simulate exited: {err.decode()[-2000:]}")
            return await asyncio.to_thread(self.path.exists)

        await until(written, "the simulated fleet's file")
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def write_run_config(
    fleet_file: Path,
    dest: Path,
    *,
    mqtt_port: int | None = None,
    mqtt_batch: int | None = None,
    plans: Iterable[str] | None = FREQUENT_PLANS,
    service: dict[str, Any] | None = None,
) -> Path:
    """The simulator's fleet file made runnable: a site database and control socket beside
    `dest`, an MQTT sink on `mqtt_port` (user MQTT_USER, the password from the environment: see
    `HeadendRun`), and only the scheduled `plans` named (None: all of them)."""
    data = tomllib.loads(fleet_file.read_text())
    data["site"]["database"] = str(dest.parent / "site.sqlite3")
    data["service"] = {"control_socket": str(dest.parent / "headend.sock"), **(service or {})}
    if plans is not None:
        wanted = set(plans)
        data["plans"] = [
            p for p in data["plans"] if p.get("schedule") is None or p["name"] in wanted
        ]
    if mqtt_port is not None:
        mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": mqtt_port, "username": MQTT_USER}
        if mqtt_batch is not None:
            mqtt["batch"] = mqtt_batch
        mqtt["timeout_s"] = 10.0
        data["sinks"] = {"mqtt": mqtt}
    dest.write_text(to_toml(data))
    return dest


class HeadendRun:
    """`headend run --config FILE` as a subprocess; stderr (the log) goes to a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        data = tomllib.loads(config.read_text())
        self.socket = Path(data["service"]["control_socket"])
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "headend.cli.main",
                "run",
                "--config",
                str(self.config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env=_env({"HEADEND_MQTT_PASSWORD": MQTT_PASSWORD}),
                cwd=ROOT,
            )
        await until(self._answers, "headend run to answer on its control socket")

    async def _answers(self) -> bool:
        self._check_alive()
        return await self.status() is not None

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise AssertionError(f"headend run exited {self.proc.returncode}: {self.log_text()}")

    async def status(self) -> dict[str, Any] | None:
        """The live status, as the control socket gives it to `headend status`."""
        try:
            answer = await ask(self.socket, {"op": "status"}, timeout_s=30.0)
        except (ConnectionError, OSError, TimeoutError, ValueError):
            return None
        return answer if answer.get("ok") else None

    async def wait_for_run_in_progress(self) -> list[dict[str, Any]]:
        """The runs in progress, as soon as there is one."""
        found: list[dict[str, Any]] = []

        async def running() -> bool:
            self._check_alive()
            status = await self.status()
            found[:] = status["in_progress"] if status else []
            return bool(found)

        await until(running, "a run in progress")
        return found

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the service and wait for it to exit (the timeout is a hang guard)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
        try:
            async with asyncio.timeout(timeout):
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"headend run did not stop: {self.log_text()[-3000:]}") from None

    async def close(self) -> None:
        """Whatever happened: no process left behind."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@asynccontextmanager
async def running(config: Path, log: Path) -> AsyncIterator[HeadendRun]:
    service = HeadendRun(config, log)
    try:
        await service.start()
        yield service
    finally:
        await service.close()

"""A throwaway nats-server with JetStream for the cluster tests, on a free loopback port.

The store directory (file storage) lives under a directory the test owns, so `restart()` brings
the server back on the same port with the same streams, consumers and messages ("NATS restarted
mid-run loses no job"). Optionally with a user and password, or a token (the credential tests).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import find_binary, log_tail, stop_process

_NATS = "/usr/sbin/nats-server"


@dataclass
class NatsServer:
    port: int
    root: Path  # the store directory and the log are under it
    user: str | None = None
    password: str | None = None
    token: str | None = None
    jetstream: bool = True
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The running server's process id (None when it is not running)."""
        return self._process.pid if self._process is not None else None

    @property
    def store_dir(self) -> Path:
        return self.root / "jetstream"

    @property
    def log(self) -> Path:
        return self.root / "nats-server.log"

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        args = [
            find_binary(_NATS, "the Debian package nats-server"),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-l",
            str(self.log),
        ]
        if self.jetstream:
            args += ["-js", "-sd", str(self.store_dir)]
        if self.user is not None and self.password is not None:
            args += ["--user", self.user, "--pass", self.password]
        if self.token is not None:
            args += ["--auth", self.token]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + 30  # a hang guard only
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nats-server exited ({process.returncode}): {self._tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not get ready on {self.port}: {self._tail()}")

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        # the port opens before JetStream has recovered its streams: wait for its log line
        return not self.jetstream or "Server is ready" in self._tail(100_000)

    def _tail(self, size: int = 2000) -> str:
        return log_tail(self.log, size)

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def restart(self) -> None:
        """Stop and start again: same port, same store directory."""
        self.stop()
        # the log of the previous run would say "ready" at once
        if self.log.exists():
            self.log.rename(self.root / f"nats-server.{time.monotonic_ns()}.log")
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

"""Throwaway sink servers for the service benchmark: a mosquitto broker with a password file and a
VictoriaMetrics (it accepts influxdb-client's `/api/v2/write`), each on a free loopback port.

The same servers as the sink tests' (tests/brokers.py), reduced to what a benchmark needs; copied
rather than imported because `python bench/service.py` does not have the repository's `tests`
package on its path. Mosquitto drops to user `mosquitto` when started as root, so its directory
(under /tmp, outside any pytest tmp_path) is owned by that user; `remove()` deletes everything.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
VICTORIA = "/usr/bin/victoria-metrics"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(path: str, package: str) -> str:
    found = path if Path(path).is_file() else shutil.which(Path(path).name)
    if not found:
        raise SystemExit(f"{Path(path).name} not found: install {package} (.ci/run does)")
    return found


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60  # a hang guard only
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited ({process.returncode}): {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


class Mosquitto:
    """mosquitto on `port` with one user (the password goes into its password file only)."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="headend-bench-mqtt-"))
        self._user = user
        self._password = password
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shutil.chown(self.root, "mosquitto", "mosquitto")
        self.root.chmod(0o700)
        passwords = self.root / "passwords"
        passwords.touch(mode=0o600)
        subprocess.run(
            [
                binary(MOSQUITTO_PASSWD, "mosquitto"),
                "-b",
                str(passwords),
                self._user,
                self._password,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        shutil.chown(passwords, "mosquitto", "mosquitto")
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "persistence false",
                    "max_queued_messages 0",
                    "max_inflight_messages 0",
                    "set_tcp_nodelay true",
                    "log_type error",
                    "log_type warning",
                    "log_dest stderr",
                    "allow_anonymous false",
                    f"password_file {passwords}",
                ]
            )
            + "\n"
        )
        shutil.chown(conf, "mosquitto", "mosquitto")
        log = self.root / "mosquitto.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [binary(MOSQUITTO, "mosquitto"), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self._process, log, "mosquitto")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def remove(self) -> None:
        _stop(self._process)
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)


class VictoriaMetrics:
    """VictoriaMetrics on `port`, one sample per series and timestamp (as InfluxDB overwrites)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="headend-bench-vm-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        log = self.root / "victoria.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    binary(VICTORIA, "victoria-metrics"),
                    f"-storageDataPath={self.root / 'data'}",
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    "-retentionPeriod=100y",  # simulated capture times may lie far from today
                    "-dedup.minScrapeInterval=1ms",
                    "-loggerLevel=ERROR",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self._process, log, "victoria-metrics")

    def remove(self) -> None:
        _stop(self._process)
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

"""Throwaway mosquitto and VictoriaMetrics servers for the sink tests, on free loopback ports.

Mosquitto runs from a config file in a directory under /tmp owned by user `mosquitto` (it drops
to that user when started as root), with or without a password file made by mosquitto_passwd.
It can be stopped and started again on the same port (the "broker down, readings taken, broker
back" tests); with `persistent=True` its sessions and queued messages survive that (a test
subscriber with a persistent session then misses nothing published while it reconnects).

VictoriaMetrics accepts influxdb-client's `/api/v2/write`; `export()` flushes and reads back
every series through `/api/v1/export` as `Series` (name, labels, values, timestamps in ms).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.server_process import find_binary, log_tail, stop_process

MQTT_USER = "headend"
MQTT_PASSWORD = "mqtt-Pa55word!"  # a test value for a throwaway broker

_MOSQUITTO = "/usr/sbin/mosquitto"
_VICTORIA = "/usr/bin/victoria-metrics"


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30  # a hang guard only
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}): {log_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}: {log_tail(log)}")


@dataclass
class Mosquitto:
    port: int
    users: dict[str, str] | None = None  # None: anonymous access
    persistent: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="headend-test-")))
    _process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "mosquitto.log"

    def _configure(self) -> Path:
        shutil.chown(self.root, "mosquitto", "mosquitto")
        self.root.chmod(0o700)
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"persistence {'true' if self.persistent else 'false'}",
            "max_queued_messages 0",  # a persistent session keeps everything queued for it
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_dest stderr",
        ]
        if self.persistent:
            lines.append(f"persistence_location {self.root}/")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwords = self.root / "passwords"
            passwords.touch(mode=0o600)
            passwd = find_binary("/usr/bin/mosquitto_passwd", "mosquitto")
            for user, password in self.users.items():
                subprocess.run(
                    [passwd, "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            shutil.chown(passwords, "mosquitto", "mosquitto")
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        conf = self.root / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        shutil.chown(conf, "mosquitto", "mosquitto")
        return conf

    def start(self) -> None:
        conf = self.root / "mosquitto.conf"
        if not conf.exists():
            conf = self._configure()
        binary = find_binary(_MOSQUITTO, "mosquitto")
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        _wait_port(self.port, self._process, self.log, "mosquitto")

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    values: list[float]
    timestamps: list[int]  # ms since the epoch


@dataclass
class VictoriaMetrics:
    port: int
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="headend-test-")))
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = find_binary(_VICTORIA, "victoria-metrics")
        log = self.root / "victoria.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"-storageDataPath={self.root / 'data'}",
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    "-retentionPeriod=100y",  # fixed test timestamps years back must be kept
                    "-search.disableCache",
                    # one sample per series and timestamp, as InfluxDB overwrites a point
                    # written again (a batch resent after a lost ack)
                    "-dedup.minScrapeInterval=1ms",
                    "-loggerLevel=ERROR",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self._process, log, "victoria-metrics")

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def export(self) -> list[Series]:
        """Every stored series (blocking: call through asyncio.to_thread from async code)."""
        with urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/internal/force_flush", method="POST"), timeout=30
        ) as response:
            response.read()
        query = urllib.parse.urlencode({"match[]": '{__name__=~".+"}'})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as response:
            body = response.read().decode()
        series = []
        for line in body.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            labels = dict(row["metric"])
            name = labels.pop("__name__")
            series.append(Series(name, labels, row["values"], row["timestamps"]))
        return series

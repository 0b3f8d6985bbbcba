"""A throwaway PostgreSQL server for the tests: initdb, start on a free loopback port, stop, remove.

The server runs as the `postgres` user (it refuses to run as root) with its data directory (and
its unix socket) under /tmp, owned by that user, outside pytest's tmp_path. Authentication is
`trust` for everyone except `PASSWORD_USER`, who must give `PASSWORD` (scram), so tests can open a
URL with a password and see a wrong one refused. `fsync=off`: the tests never crash the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

# a role that must authenticate, for the URL-with-password and wrong-password tests
PASSWORD_USER = "headend_pw"
PASSWORD = "s3cret-Passw0rd!"
SUPERUSER = "postgres"


def find_binaries() -> Path:
    """The directory holding initdb and pg_ctl; a clear failure when PostgreSQL is missing."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    candidates += ["/usr/local/bin/initdb"]
    found = shutil.which("initdb")
    if found:
        candidates.append(found)
    for candidate in candidates:
        path = Path(candidate).resolve()
        if path.is_file() and (path.parent / "pg_ctl").is_file():
            return path.parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, "
        "/usr/local/bin or PATH: install them (apt-get install postgresql; .ci/run does)"
    )


def _as_postgres(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{Path(str(args[0])).name} failed ({result.returncode}): "
            f"{result.stdout.strip()} {result.stderr.strip()}"
        )
    return result


@dataclass
class PostgresServer:
    """A running server; `url(db)` names a database on it, `create_database` makes one."""

    bin_dir: Path
    root: Path  # removed on stop
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    @classmethod
    def start(cls, port: int) -> PostgresServer:
        bin_dir = find_binaries()
        root = Path(tempfile.mkdtemp(prefix="headend-test-", dir="/tmp"))
        server = cls(bin_dir, root, port)
        try:
            server._init()
            _as_postgres(
                bin_dir / "pg_ctl",
                "-D",
                server.data_dir,
                "-l",
                root / "server.log",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=200",
                "-w",
                "-t",
                "60",
                "start",
            )
            server.psql(
                f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'",
            )
        except BaseException:
            server.stop()
            raise
        return server

    def _init(self) -> None:
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        _as_postgres(
            self.bin_dir / "initdb",
            "-D",
            self.data_dir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        # the password role first: pg_hba takes the first matching line
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        shutil.chown(hba, "postgres", "postgres")

    def stop(self) -> None:
        """Stop the server (if it runs) and remove its directory."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _as_postgres(
                    self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop"
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return _as_postgres(
            self.bin_dir / "psql",
            "-h",
            self.root,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ).stdout

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database (from template0: fast, nothing inherited); its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

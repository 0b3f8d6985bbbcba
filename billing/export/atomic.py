"""Atomic export files and their manifest.

A file is written under a temporary name in the target directory (`.<name>.partial-<pid>`),
flushed and fsynced, renamed to its final name, and the directory fsynced, so a back-office
never sees a half-written file under a final name. The SHA-256 and size are taken while writing.

The manifest (`<stem>.manifest.json`) lists every file with its SHA-256, size and record count;
a run removes the old manifest before it writes anything and writes the new one last, also
atomically: a file without a manifest that lists it with the same SHA-256 is not ready to ingest.
Temporaries left by a killed run (their process gone) are removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Format = Literal["csv", "nem12", "cim", "espi"]

_PARTIAL = ".partial-"


class ManifestFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    sha256: str
    bytes: int
    records: int  # CSV rows, NEM12 300 records, CIM MeterReadings, ESPI Atom entries


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: list[ManifestFile]
    period: str  # "2026-10"
    period_start: datetime
    period_end: datetime
    format: Format
    meters: int
    left_out: list[str] = []  # meters not in the file: nothing this format carries (NEM12: no
    # intervals), or nothing could be worked out for them (the command names the reason)
    generator: str
    version: str


class HashingWriter:
    """A text sink over a binary file: UTF-8, counting bytes and hashing as it goes."""

    __slots__ = ("_file", "_hash", "bytes")

    def __init__(self, file: object) -> None:
        self._file = file
        self._hash = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self._hash.update(data)
        self.bytes += len(data)
        self._file.write(data)  # type: ignore[attr-defined]

    def write_bytes(self, data: bytes) -> None:
        """Bytes already encoded as UTF-8 (a part of a file being joined)."""
        self._hash.update(data)
        self.bytes += len(data)
        self._file.write(data)  # type: ignore[attr-defined]

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[HashingWriter]:
    """Write `path` atomically; on an exception the temporary is removed and nothing is renamed."""
    temporary = path.with_name(f".{path.name}{_PARTIAL}{os.getpid()}")
    with open(temporary, "wb", buffering=1 << 20) as raw:
        sink = HashingWriter(raw)
        try:
            yield sink
            raw.flush()
            os.fsync(raw.fileno())
        except BaseException:
            raw.close()
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def remove_file(path: Path) -> None:
    """Remove a final-named file (the old manifest) durably before a run replaces its files."""
    if path.exists():
        path.unlink()
        _fsync_dir(path.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's live process
        return True
    return True


def clean_stale_partials(directory: Path) -> list[str]:
    """Remove temporaries whose writing process is gone; returns the names removed."""
    removed: list[str] = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if not name.startswith(".") or _PARTIAL not in name:
            continue
        pid_text = name.rsplit(_PARTIAL, 1)[1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and _alive(pid):
            continue  # another export is writing it right now
        entry.unlink(missing_ok=True)
        removed.append(name)
    return removed


def write_manifest(path: Path, manifest: Manifest) -> None:
    text = manifest.model_dump_json(indent=2) + "\n"
    with atomic_writer(path) as sink:
        sink.write(text)

"""An export on several cores: the parent and worker processes each write the file for a
contiguous share of the meters (by id) with the same writers, and the parent joins the parts into
the one file, then writes its manifest, atomically as ever.

Reading a meter's month of intervals, validating it and writing it costs milliseconds of Python
a meter, all under one interpreter lock; processes are how a second core helps. A part is a
complete file of its format; joining keeps the first part's head and the last part's tail and the
items of all of them in order, so the joined file is byte for byte the file one process writes
(a test compares them). ESPI's feed has entries that belong to the whole feed: it is written by
one process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from billing.export.atomic import (
    HashingWriter,
    Manifest,
    ManifestFile,
    atomic_writer,
    clean_stale_partials,
    remove_file,
    write_manifest,
)
from billing.period import BillingPeriod

LOG = logging.getLogger(__name__)

# lines of a part that belong to the whole file: (head, tail)
JOINABLE: dict[str, tuple[int, int]] = {
    "csv": (1, 0),  # the header row
    "nem12": (1, 1),  # the 100 header and the 900 end record
    "cim": (3, 1),  # XML declaration, <MeterReadings>, the generator comment; </MeterReadings>
}
# formats whose meters cost enough (a month of intervals each) for processes to pay off
PARALLEL = frozenset({"nem12", "cim"})
MIN_METERS_PER_PART = 100  # below this a process costs more than it saves
# The parent works out the first share itself while the worker processes start (imports and the
# fleet's config: about a second, the time the parent takes for ~100 meters of intervals), so
# that share is larger by this much and every part ends at about the same time.
HEAD_START_METERS = 150

# the parent's own share: (meters, directory to write its part into) -> the part
LocalPart = Callable[[list[str], Path], Awaitable["PartResult"]]


@dataclass(frozen=True)
class PartJob:
    config: str
    database_url: str
    period: str
    fmt: str
    meters: list[str]
    out_dir: str


@dataclass
class PartResult:
    file: str
    records: int
    meters: int
    failed: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    # the part's own time (a worker's: with loading its config, not its interpreter's start)
    seconds: float = 0.0


def split(meters: list[str], parts: int, head_start: int = 0) -> list[list[str]]:
    """Contiguous shares of sorted meter ids, as even as can be, except that the first has up to
    `head_start` more (it is worked out in this process, which starts at once)."""
    head_start = min(head_start, len(meters) // parts)
    size, extra = divmod(len(meters) - head_start, parts)
    out, first = [], 0
    for k in range(parts):
        last = first + size + (1 if k < extra else 0) + (head_start if k == 0 else 0)
        out.append(meters[first:last])
        first = last
    return [share for share in out if share]


def run_part(job: PartJob) -> PartResult:
    """A worker process's share (top level: the pool pickles it by name)."""
    began = time.perf_counter()
    # as the `headend` command does: a month of intervals is millions of objects, and the
    # default threshold has the collector rescan them over and over (twice the time)
    gc.set_threshold(50_000, 20, 20)
    result = asyncio.run(_part(job))
    # the interpreter's start before this call is not counted (a second or so, mostly imports)
    result.seconds = time.perf_counter() - began
    return result


async def _part(job: PartJob) -> PartResult:
    # imported here: a spawned worker imports this module before it knows what it will do
    from billing.config import billing_of
    from billing.jobs.export import export_period
    from headend.config import load_config
    from headend.store import open_store

    billing = billing_of(load_config(job.config))
    store = await open_store(job.database_url)
    try:
        run = await export_period(
            billing, store, job.period, job.fmt, Path(job.out_dir), meters=job.meters
        )
    finally:
        await store.close()
    assert run.manifest is not None
    return part_result(run.manifest, run.failed, Path(job.out_dir))


def part_result(manifest: Manifest, failed: dict[str, str], out_dir: Path) -> PartResult:
    """What a part's run made, from its manifest."""
    [made] = manifest.files
    return PartResult(
        str(out_dir / made.name),
        made.records,
        manifest.meters,
        dict(failed),
        list(manifest.left_out),
    )


async def export_in_parts(
    *,
    config: Path,
    database_url: str,
    period: BillingPeriod,
    fmt: str,
    out_dir: Path,
    meters: list[str],
    workers: int,
    generator: str,
    version: str,
    local: LocalPart,
) -> tuple[Manifest, dict[str, str], int]:
    """Write `fmt` for `meters` (sorted) in `workers` parts: the first by `local` in this
    process, the others by as many worker processes; returns the manifest, the meters that could
    not be worked out (with why) and how many meters were written."""
    scratch = await asyncio.to_thread(_scratch, out_dir)
    try:
        own, *shares = split(meters, workers, HEAD_START_METERS)
        jobs = [
            PartJob(str(config), database_url, period.name, fmt, share, str(scratch / str(k)))
            for k, share in enumerate(shares, 1)
        ]
        loop = asyncio.get_running_loop()
        # spawn, not fork: this process has threads (the store's), which a fork would not copy
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(len(jobs), 1), mp_context=context) as pool:
            results = list(
                await asyncio.gather(
                    local(own, scratch / "0"),
                    *(loop.run_in_executor(pool, run_part, job) for job in jobs),
                )
            )
        manifest = await asyncio.to_thread(_join, results, out_dir, period, fmt, generator, version)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    failed: dict[str, str] = {}
    for k, result in enumerate(results):
        failed.update(result.failed)
        LOG.info("%s part %d: %d meters in %.2f s", fmt, k, result.meters, result.seconds)
    return manifest, failed, manifest.meters


def _copy(part: Path, sink: HashingWriter, *, skip_head: int, skip_tail: int) -> None:
    """The part's bytes without its first `skip_head` and last `skip_tail` lines, in blocks (a
    part of a CIM file is hundreds of MB)."""
    with part.open("rb") as source:
        size = source.seek(0, os.SEEK_END)
        stop = size
        if skip_tail:
            # the start of the last `skip_tail` lines: search back from the end
            source.seek(max(0, size - 64 * 1024))
            tail = source.read()
            cut = len(tail)
            for _ in range(skip_tail + 1):  # the final newline ends the last line
                cut = tail.rfind(b"\n", 0, cut)
            stop = size - len(tail) + cut + 1
        source.seek(0)
        for _ in range(skip_head):
            source.readline()
        left = stop - source.tell()
        while left > 0:
            block = source.read(min(left, 1 << 20))
            if not block:
                break
            sink.write_bytes(block)
            left -= len(block)


def _scratch(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(out_dir)
    return Path(tempfile.mkdtemp(prefix=".parts-", dir=out_dir))


def _join(
    results: list[PartResult],
    out_dir: Path,
    period: BillingPeriod,
    fmt: str,
    generator: str,
    version: str,
) -> Manifest:
    """The parts joined into the one file (atomically), then its manifest."""
    head, tail = JOINABLE[fmt]
    name = Path(results[0].file).name
    part_dir = Path(results[0].file).parent
    [part_manifest] = [p for p in part_dir.iterdir() if p.name.endswith(".manifest.json")]
    manifest_path = out_dir / part_manifest.name
    remove_file(manifest_path)  # the old manifest must not vouch for the file being replaced
    with atomic_writer(out_dir / name) as sink:
        for k, result in enumerate(results):
            _copy(
                Path(result.file),
                sink,
                skip_head=head if k > 0 else 0,
                skip_tail=tail if k < len(results) - 1 else 0,
            )
    manifest = Manifest(
        files=[
            ManifestFile(
                name=name,
                sha256=sink.sha256,
                bytes=sink.bytes,
                records=sum(r.records for r in results),
            )
        ],
        period=period.name,
        period_start=period.start,
        period_end=period.end,
        format=fmt,  # type: ignore[arg-type]
        meters=sum(r.meters for r in results),
        left_out=sorted({m for r in results for m in (*r.left_out, *r.failed)}),
        generator=generator,
        version=version,
    )
    write_manifest(manifest_path, manifest)
    return manifest

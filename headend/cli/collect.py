"""`headend collect`: run one reading plan now over the fleet (or some meters) into the store.

On a terminal a progress bar shows meters done of total, failures, rate and time left; piped or
redirected, one summary line goes to stderr instead. A table per channel (ok, partial, failed by
cause) goes to stdout, or with `--json` the run report as JSON.

`--role scheduler` runs the plan's channel jobs on a cluster's workers (`headend run --role
worker`) through NATS JetStream instead of in this process, and waits for their reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from headend.cli.database import open_url, shown_url, site_url
from headend.cli.output import console
from headend.cli.usage import UsageError
from headend.cluster.connection import ClusterError
from headend.cluster.queue_executor import JobTimeout
from headend.cluster.settings import ClusterSettings
from headend.config import HeadendConfig, ReadingPlan, load_config
from headend.reading import MeterReport, MeterStatus, ReadingService, RunReport
from headend.service.roles import (
    RoleRefused,
    cluster_role_settings,
    connect,
    scheduler_config,
    scheduler_executor,
)
from headend.store.base import Store

CLUSTER_FAILED_STATUS = 4


class RateColumn(ProgressColumn):
    """Meters per second since the start (steadier than rich's sliding-window speed)."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self._started = started

    def render(self, task: Task) -> Text:
        elapsed = time.monotonic() - self._started
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} meters/s")


def collect_plan(config: HeadendConfig, name: str) -> ReadingPlan:
    try:
        return config.fleet.plan(name)
    except KeyError:
        names = ", ".join(p.name for p in config.fleet.plans) or "none"
        raise UsageError(f"{config.path}: no plan {name!r} (plans: {names})") from None


def check_meters(config: HeadendConfig, meter_ids: list[str] | None) -> None:
    if not meter_ids:
        return
    known = {m.id for m in config.fleet.meters}
    unknown = [m for m in meter_ids if m not in known]
    if unknown:
        raise UsageError(f"{config.path}: no meter(s) {', '.join(unknown)} in the fleet")


TABLE_ROWS = 40
"""Channel rows shown at most: a fleet of GPRS meters has a channel per meter."""


def channels_table(report: RunReport, title: str, max_rows: int = TABLE_ROWS) -> Table:
    """Per channel: meters ok, partial, failed, failures by cause; a total row at the end.

    At most `max_rows` channels are listed, those with failed or partial meters first (most
    failures first); the others are summed up in one row, so a 100,000-meter run still prints
    a table a person can read (and in milliseconds)."""
    table = Table(title=title)
    table.add_column("channel")
    table.add_column("meters", justify="right")
    table.add_column("ok", justify="right", style="green")
    table.add_column("partial", justify="right", style="yellow")
    table.add_column("failed", justify="right", style="red")
    table.add_column("failed by cause")
    table.add_column("values read", justify="right")
    by_channel: dict[str, list[MeterReport]] = {}
    for meter in report.meters:
        by_channel.setdefault(meter.channel_id, []).append(meter)
    channels = list(by_channel.items())
    if len(channels) > max_rows:
        # stable sort: channels with problems first, most problems first, else fleet order
        channels.sort(key=lambda item: -sum(m.status is not MeterStatus.OK for m in item[1]))
        shown, rest = channels[:max_rows], channels[max_rows:]
        rows = [*shown, (f"{len(rest)} more channels", [m for _, ms in rest for m in ms])]
    else:
        rows = channels
    if len(channels) > 1:
        rows.append(("total", list(report.meters)))
    for channel, meters in rows:
        statuses = Counter(m.status for m in meters)
        causes = Counter(m.cause or "error" for m in meters if m.status is MeterStatus.FAILED)
        table.add_row(
            channel,
            str(len(meters)),
            *(str(statuses[s]) for s in MeterStatus),
            ", ".join(f"{cause} {n}" for cause, n in causes.most_common()),
            str(sum(m.readings for m in meters)),
            end_section=channel == "total" or len(rows) == 1,
        )
    return table


def summary_line(report: RunReport) -> str:
    return (
        f"plan {report.plan!r}: {len(report.meters)} meters, {report.count(MeterStatus.OK)} ok, "
        f"{report.count(MeterStatus.PARTIAL)} partial, {report.count(MeterStatus.FAILED)} "
        f"failed; {report.readings} values read, {report.stored} new readings stored "
        f"in {report.duration_s:.1f} s"
    )


async def _run(
    service: ReadingService, plan: ReadingPlan, meter_ids: list[str] | None, total: int
) -> RunReport:
    if not sys.stderr.isatty():
        return await service.run(plan, meter_ids)
    started = time.monotonic()
    failures = 0
    with Progress(
        TextColumn(f"plan {plan.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        RateColumn(started),
        TimeRemainingColumn(),
        console=console(err=True),
        transient=True,
    ) as progress:
        task = progress.add_task("collect", total=total, failed=0)

        def advance(report: MeterReport) -> None:
            nonlocal failures
            failures += report.status is not MeterStatus.OK
            progress.update(task, advance=1, failed=failures)

        return await service.run(plan, meter_ids, progress=advance)


async def run_collect(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    plan = collect_plan(config, args.plan)
    meter_ids: list[str] | None = list(dict.fromkeys(args.meters)) if args.meters else None
    check_meters(config, meter_ids)
    total = len(meter_ids) if meter_ids else len(config.fleet.meters)
    url = site_url(config, args.db)
    role = getattr(args, "role", "local")
    settings: ClusterSettings | None = None
    if role == "scheduler":
        try:
            settings = cluster_role_settings(config, url, role)
        except RoleRefused as exc:
            raise UsageError(str(exc)) from None
    store = await open_url(url)
    try:
        if settings is None:
            service = ReadingService(config, store, contacts=store, counters=store)
            report = await _run(service, plan, meter_ids, total)
        else:
            report = await _run_on_cluster(config, store, settings, plan, meter_ids, total)
    except (ClusterError, JobTimeout) as exc:
        sys.stderr.write(f"headend collect: {exc}\n")
        return CLUSTER_FAILED_STATUS
    except RoleRefused as exc:  # a site name that cannot be a NATS subject, NATS credentials
        raise UsageError(str(exc)) from None
    finally:
        await store.close()
    if args.json:
        sys.stdout.write(report.model_dump_json() + "\n")
        sys.stdout.flush()
    else:
        table = channels_table(report, f"plan {plan.name!r} into {shown_url(url)}")
        table.caption = (
            f"{report.readings} values read, {report.stored} new readings stored, "
            f"{report.duration_s:.1f} s"
        )
        console().print(table)
    if args.json or not sys.stderr.isatty():
        sys.stderr.write(f"headend collect: {summary_line(report)}\n")
    return 0 if report.all_ok else 1


async def _run_on_cluster(
    config: HeadendConfig,
    store: Store,
    settings: ClusterSettings,
    plan: ReadingPlan,
    meter_ids: list[str] | None,
    total: int,
) -> RunReport:
    """The plan's channel jobs published to the cluster, every report awaited; the workers
    store the readings (and meters' events) in the shared store."""
    cluster = await connect(settings, config.fleet.site.name, "headend collect")
    executor = scheduler_executor(cluster)
    try:
        scheduling = scheduler_config(config, settings)
        service = ReadingService(
            scheduling, store, contacts=store, counters=store, executor=executor
        )
        return await _run(service, plan, meter_ids, total)
    finally:
        await executor.close()
        await cluster.close()


def add_collect_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "collect",
        help="run one reading plan now over the fleet and store the readings",
        description=(
            "Run a reading plan of the fleet file now, over every meter or the ones named with\n"
            "--meters, and store the readings (and invocation counters, last contact) in the\n"
            "site database (site.database, or --db: a SQLite file path, sqlite:///path, or\n"
            "postgresql://user@host[:port]/db with the password in PGPASSWORD). A progress bar\n"
            "shows meters done, failures, rate and time left on a terminal; the table printed\n"
            "at the end gives per channel the meters ok, partial (some values failed) and\n"
            "failed, by cause (timeout, channel down, authentication failed, ...).\n\n"
            "  headend simulate --config config/demo.toml   # in another shell: the demo fleet\n"
            "  headend collect --config config/demo.toml --plan daily-registers\n"
            "  headend collect --config config/demo.toml --plan demo --meters gprs-0001 dc1-0002\n"
            "  headend collect --config fleet.toml --plan load-profile --json > run.json\n\n"
            "On a cluster ([cluster] section, PostgreSQL store), --role scheduler publishes the\n"
            "plan's channel jobs to NATS JetStream, where `headend run --role worker` processes\n"
            "(on this or other machines) read them; this command waits for every job's report\n"
            "and prints the same summary:\n"
            "  headend run --config fleet.toml --role worker &     # one or more, anywhere\n"
            "  headend collect --config fleet.toml --plan daily --role scheduler --json\n\n"
            "Exit status: 0 every meter read completely, 1 some meters failed or were read\n"
            "partially, 2 usage or configuration error (also: --role scheduler without\n"
            "[cluster] or PostgreSQL), 3 the store failed (readings kept in a spool file beside\n"
            "the database), 4 NATS unreachable or a job's report not in [cluster] job_timeout_s,\n"
            "141 output cut short."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="fleet file (TOML)")
    parser.add_argument("--plan", required=True, metavar="NAME", help="reading plan by name")
    parser.add_argument(
        "--meters", nargs="+", metavar="ID", help="only these meters (default: the whole fleet)"
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store: a SQLite path, sqlite:///path or postgresql://... (default: site.database)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the run report as JSON instead of the table"
    )
    parser.add_argument(
        "--role",
        choices=("local", "scheduler"),
        default="local",
        help="local: read in this process (default); scheduler: send the channel jobs to the "
        "[cluster]'s workers and wait for their reports",
    )
    parser.set_defaults(handler=run_collect)

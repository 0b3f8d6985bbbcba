"""Assembling `headend run`: the service, its scheduler, the outbox forwarder, the push listener,
the command service (which resumes the commands left open by the last run), the MQTT request and
command intakes and the control socket; stopped in the reverse order of their start.

Stopping (SIGINT/SIGTERM, or `stop` set by a caller) first stops the scheduler (no new runs),
lets runs in progress finish within `service.shutdown_grace_s`, then cancels them (their sessions
are released by the channel layer; readings already stored stay), stops the forwarder (each
sink's cursor stays at the last delivered entry: the outbox is kept for the next start) and
closes the listeners.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headend.cluster.connection import Cluster
from headend.cluster.leases import ChannelLeases
from headend.cluster.queue_executor import JobTimeout
from headend.cluster.status import cluster_status
from headend.commands.model import CommandAction, CommandRecord, CommandRequest, CommandState
from headend.commands.service import CommandService
from headend.config.load import DemandResponseEvent
from headend.config.loader import HeadendConfig
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.load.manager import REQUESTER as LOAD_REQUESTER
from headend.load.manager import LoadManager, submit_to
from headend.reading.executor import JobExecutor
from headend.reading.meter import SettingsResolver
from headend.reading.saving import RunFailed
from headend.runs.model import RunStats
from headend.service import extensions
from headend.service.clock import ServiceClock
from headend.service.control import ControlServer
from headend.service.demand_response import DemandResponseRequest, check_event
from headend.service.extensions import DaemonExtension
from headend.service.leased_commands import LeasedCommandService
from headend.service.load_control import CyclePublisher, FeederMeters
from headend.service.push_intake import PushIntake
from headend.service.runtime import HeadendService, cancel_all
from headend.service.scheduler import PlanScheduler
from headend.sinks.forwarder import Forwarder
from headend.store.base import Store, StoreError

LOG = logging.getLogger("headend.service")


class Daemon:
    def __init__(
        self,
        config: HeadendConfig,
        store: Store,
        clock: ServiceClock,
        *,
        database_url: str,
        resolve: SettingsResolver | None = None,
        forwarder: Forwarder | None = None,
        executor: JobExecutor | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        # a cluster's scheduler: channel jobs go to the workers through `executor`, and the
        # status shows the cluster (workers, queues, leases, dead letters)
        self.cluster = cluster
        self.service = HeadendService(config, store, clock, resolve=resolve, executor=executor)
        self.database_url = database_url
        fleet = config.fleet
        if forwarder is None and fleet.sinks is not None:
            forwarder = Forwarder(store, fleet.sinks, fleet)
        self.forwarder = forwarder
        self.scheduler: PlanScheduler | None = None
        # commands share the reading service's channels: the priority lane is theirs to use
        self.commands: CommandService
        if cluster is None:
            self.commands = CommandService(
                config, store, self.service.channels, clock, resolve=resolve
            )
        else:
            # a worker may be reading a half-duplex channel: commands take its lease
            self.commands = LeasedCommandService(
                config,
                store,
                self.service.channels,
                clock,
                resolve=resolve,
                leases=ChannelLeases(cluster.leases_kv, cluster.settings.lease_ttl_s),
                holder=f"scheduler-{socket.gethostname()}-{os.getpid()}",
            )
        self.load: LoadManager | None = None
        self._load_stop = asyncio.Event()
        if fleet.load is not None and fleet.load.feeders:
            self.load = LoadManager(
                fleet.load,
                clock=clock,
                read_feeder=FeederMeters(self.service).read,
                store=store,
                submit=submit_to(self.commands),
                save=store.save_load_cycles,
                notify=self._load_notice,
                coalesce=True,  # every final command is reported below (on_final)
            )
            # a load command that failed or expired: the manager decides about it again
            self.commands.on_final.append(self.load.on_command_final)
        self.control = ControlServer(
            Path(fleet.service.control_socket),
            self.status,
            self.service.read,
            self.command,
            self._demand_response_request,
        )
        self.push: PushIntake | None = None
        self.extensions: list[DaemonExtension] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closers: list[Any] = []
        self.service.on_run.append(self._after_run)

    async def _after_run(self, _stats: RunStats) -> None:
        if self.forwarder is not None:
            self.forwarder.notify()

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("%s failed: %s", task.get_name(), task.exception())

    async def fire(self, plan_name: str) -> None:
        # Awaited by the scheduler's job, so max_instances=1 keeps one run of a plan at a time.
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.service.fire(plan_name)
        except (RunFailed, StoreError) as exc:
            # the readings are kept (spooled beside the database) and stored by the next run
            LOG.error("run %s: the store failed: %s", plan_name, exc)
        except JobTimeout as exc:  # a cluster's scheduler: no worker answered in time
            LOG.error("run %s: %s", plan_name, exc)
        except Exception:
            LOG.exception("run %s failed unexpectedly", plan_name)  # a bug: keep its traceback
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def command(self, request: CommandRequest) -> CommandRecord:
        """Run a command (from the control socket) to its final state."""
        return await self.commands.execute(request)

    async def demand_response(
        self, event: DemandResponseEvent, requester: str, reason: str = ""
    ) -> DemandResponseEvent:
        """Check a demand-response version against the fleet's [load] section (ValueError
        naming the field), store it with its audit event (StaleDemandResponse for a version not
        newer than the stored one), then hand it to the load manager: applied from its next
        cycle. Returns the stored version."""
        check_event(self.config.fleet.load, event)
        if self.load is None:
            raise ValueError("the load manager does not run: no demand response to apply")
        stored = await self.store.save_demand_response(
            event, requester, reason=reason, at=self.clock.now()
        )
        self.load.add_event(stored)
        LOG.info(
            "demand response %s version %d from %s: %s",
            stored.id,
            stored.version,
            requester,
            "cancelled" if stored.cancelled else "applied from the next cycle",
        )
        return stored

    async def _demand_response_request(self, request: DemandResponseRequest) -> DemandResponseEvent:
        return await self.demand_response(request.event, request.requester, request.reason)

    async def start(self) -> None:
        fleet = self.config.fleet
        await self.control.start()
        self._closers.append(self.control.close)
        await self.commands.recover()
        self._closers.append(self.commands.close)
        if self.forwarder is not None:
            await self.forwarder.start()
            self._closers.append(self.forwarder.stop)
        await self._start_push()
        await self._start_requests()
        await self._start_command_intake()
        if self.load is not None:
            # versions given at run time before this start (cancellations too: they override
            # the fleet file's version); those over by now change nothing
            now = self.clock.now()
            for event in await self.store.demand_responses():
                if event.end + event.spread > now:
                    self.load.add_event(event)
        await self._start_load()
        await self._start_extensions()
        self.scheduler = PlanScheduler(scheduler_database(self.database_url), self.clock, self.fire)
        self.scheduler.start(self.service.scheduled_plans())
        plans = (
            ", ".join(f"{p.name} ({p.schedule})" for p in self.service.scheduled_plans()) or "none"
        )
        LOG.info(
            "head-end %s running: %d meters on %d channels; plans: %s; clock %s",
            fleet.site.name,
            len(fleet.meters),
            len(fleet.channels),
            plans,
            "real" if self.clock.factor == 1 else f"simulated x{self.clock.factor:g}",
        )

    async def _start_push(self) -> None:
        settings = self.config.fleet.service
        if settings.push_port is None:
            return
        intake = PushIntake(self.config, self.store, settings.push_host, settings.push_port)
        await intake.start()
        self._closers.append(intake.stop)
        self.push = intake

    async def _start_requests(self) -> None:
        fleet = self.config.fleet
        sinks = fleet.sinks
        if sinks is None or sinks.mqtt is None or not fleet.service.mqtt_requests:
            return
        from headend.service.mqtt_requests import MqttRequests

        password = sinks.mqtt.password()
        requests = MqttRequests(
            sinks.mqtt,
            fleet.site.name,
            self.service.read,
            password=password.get_secret_value() if password else None,
        )
        await requests.start()
        self._closers.append(requests.stop)

    async def _start_command_intake(self) -> None:
        fleet = self.config.fleet
        sinks, settings = fleet.sinks, fleet.service.commands
        if sinks is None or sinks.mqtt is None or not settings.mqtt:
            return
        if not settings.allowed_requesters:
            # nobody may command over MQTT: no connection, no topic to answer on
            LOG.info("MQTT commands: off (no allowed_requesters in [service.commands])")
            return
        from headend.commands.mqtt_intake import MqttCommandIntake, ServicePort

        password = sinks.mqtt.password()
        intake = MqttCommandIntake(
            sinks.mqtt,
            fleet.site.name,
            ServicePort(self.commands, self.store, fleet.index.meters),
            settings.allowed_requesters,
            password=password.get_secret_value() if password else None,
        )
        await intake.start()
        self._closers.append(intake.stop)

    async def _load_notice(self, feeder: str, notice: str) -> None:
        """A load manager notice (minimums that do not fit, a demand-response change) as a
        head-end event of the feeder's meter."""
        assert self.load is not None
        now = self.clock.now()
        meter = self.load.settings.feeder(feeder).meter
        await self.store.save_events(
            [
                Event(
                    origin=EventOrigin.HEADEND,
                    meter_id=meter,
                    code=int(HeadendEvent.LOAD_NOTICE),
                    name="load_notice",
                    text=notice,
                    time=now,
                    received_at=now,
                    source=f"load-manager:{feeder}",
                )
            ]
        )

    async def _restore_disconnections(self) -> None:
        """Households the load manager disconnected in an earlier run and never reconnected: a
        disconnection has no lease, so the manager takes them over (each assumed to want its
        contractual maximum, so it is reconnected once its feeder has room for that)."""
        assert self.load is not None
        latest: dict[str, CommandRecord] = {}
        for record in await self.store.commands(states=[CommandState.CONFIRMED]):
            if record.requester == LOAD_REQUESTER and record.meter is not None:
                if record.action in (CommandAction.DISCONNECT, CommandAction.RECONNECT):
                    latest[record.meter] = record
        settings = self.load.settings
        off = {
            meter: settings.max_w(meter) / 1000
            for meter, record in latest.items()
            if record.action is CommandAction.DISCONNECT
        }
        if off:
            self.load.restore_disconnected(off)
            LOG.warning(
                "load manager: %d households still disconnected for load by the last run: "
                "reconnected once their feeders have room",
                len(off),
            )

    async def _start_load(self) -> None:
        if self.load is None:
            return
        await self._restore_disconnections()
        sinks = self.config.fleet.sinks
        if sinks is not None and sinks.mqtt is not None:
            password = sinks.mqtt.password()
            publisher = CyclePublisher(
                sinks.mqtt,
                self.config.fleet.site.name,
                password=password.get_secret_value() if password else None,
            )
            await publisher.start()
            self._closers.append(publisher.stop)
            self.load.publish_to(publisher.publish)
        self.spawn(self.load.run(self._load_stop), "load-manager")
        LOG.info(
            "load manager: %d feeders, a cycle every %s",
            len(self.load.settings.feeders),
            self.load.settings.cycle,
        )

    async def _start_extensions(self) -> None:
        for factory in extensions.FACTORIES:
            extension = await factory(self)
            if extension is None:
                continue
            await extension.start()
            self.extensions.append(extension)
            self._closers.append(extension.stop)
            self.control.extra_ops.update(extension.ops())

    async def stop(self) -> None:
        self._load_stop.set()  # no new control cycle; the leases sent expire on their own
        grace = self.config.fleet.service.shutdown_grace_s
        if self._tasks:
            LOG.info("stopping: %d runs in progress get %g s to finish", len(self._tasks), grace)
        started = time.monotonic()
        if self.scheduler is not None:
            # the grace is given here: the scheduler's shutdown cancels the runs it started
            await self.scheduler.shutdown(grace_s=grace)
        await cancel_all(list(self._tasks), max(0.0, grace - (time.monotonic() - started)))
        for close in reversed(self._closers):
            try:
                await close()
            except Exception as exc:  # keep closing the rest
                LOG.warning("stopping: %s", exc)
        self._closers.clear()
        LOG.info("head-end stopped")

    async def status(self) -> dict[str, Any]:
        service = self.service
        sinks = await self.forwarder.status() if self.forwarder is not None else []
        return {
            "site": self.config.fleet.site.name,
            "started_at": service.started_at.isoformat(),
            "now": datetime.now(UTC).isoformat(),
            "clock": self.clock.now().isoformat(),
            "clock_factor": self.clock.factor,
            "in_progress": [r.model_dump(mode="json") for r in service.in_progress.values()],
            "next_runs": {
                name: when.isoformat()
                for name, when in (self.scheduler.next_runs() if self.scheduler else {}).items()
            },
            "channels_down": service.channels_down(),
            "commands_in_flight": self.commands.in_flight(),
            "load": {
                feeder: decision.cycle.model_dump(mode="json")
                for feeder, decision in (self.load.last.items() if self.load else [])
            },
            "sinks": [s.model_dump(mode="json") for s in sinks],
            "recent_runs": [r.model_dump(mode="json") for r in service.completed[-10:]],
            **({"cluster": await self._cluster_status()} if self.cluster is not None else {}),
            **{e.name: await e.status() for e in self.extensions},
        }

    async def _cluster_status(self) -> dict[str, Any]:
        assert self.cluster is not None
        try:
            return (await cluster_status(self.cluster)).model_dump(mode="json")
        except Exception as exc:  # NATS away: the rest of the status is still worth showing
            return {"error": f"cluster status unavailable: {type(exc).__name__}: {exc}"}


def scheduler_database(url: str) -> str:
    """Where the scheduler's job store lives: the site database itself on PostgreSQL; beside a
    SQLite site database, a file of its own (`site.sqlite3` -> `site.scheduler.sqlite3`).

    Why not the same SQLite file: APScheduler's job store is synchronous and runs on the event
    loop. When it waits for SQLite's write lock while the store's (async) transaction holds it,
    that transaction needs the very loop that is blocked to reach its COMMIT: both wait until
    the busy timeout, and the scheduler's update fails ("database is locked").
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] != "sqlite":
        return url
    path = Path(rest.removeprefix("/") if sep else url)
    if sep and rest.startswith("//"):
        path = Path(rest[1:])  # sqlite:////abs/path
    return str(path.with_name(f"{path.stem}.scheduler{path.suffix or '.sqlite3'}"))


async def run_until_stopped(daemon: Daemon, stop: asyncio.Event) -> None:
    try:
        await daemon.start()
    except BaseException:
        await daemon.stop()  # what started is stopped again (the control socket, sinks, ...)
        raise
    try:
        await stop.wait()
    finally:
        await daemon.stop()

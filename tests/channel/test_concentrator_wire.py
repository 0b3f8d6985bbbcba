"""HDLC meters behind one concentrator, checked on the wire (a logging proxy in front of the
simulated concentrator): never two requests at once, even with on-demand reads racing a bulk run;
an on-demand read is served before the queued bulk meters; a silent meter's retries wait at the
back of the queue instead of holding the concentrator.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from headend.reading import MeterReport, MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.channel.fleets import concentrator, fleet_config, with_port
from tests.channel.wire import Frame, HdlcProxy


def overlapping_requests(frames: list[Frame]) -> list[tuple[Frame, Frame]]:
    """Pairs of requests where the second went out before the first was answered."""
    bad = []
    pending: Frame | None = None
    for frame in sorted(frames, key=lambda f: f.at):
        if frame.direction == "C":
            if pending is not None:
                bad.append((pending, frame))
            pending = frame
        else:
            pending = None
    return bad


async def test_no_two_requests_on_the_wire_with_priority_reads_racing_bulk(
    tmp_path: Path,
) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 6))
    async with simulated_fleet(config) as (sim, served):
        sim.by_channel["dc"].response_delay_s = 0.005  # a concentrator is never instant
        async with (
            HdlcProxy(served.fleet.channel("dc").port).running() as proxy,  # type: ignore[union-attr]
            await SqliteStore.open(tmp_path / "r.sqlite3") as store,
        ):
            served = with_port(served, "dc", proxy.port)
            service = ReadingService(served, store)
            plan = served.fleet.plan("registers")
            first_done = asyncio.Event()
            bulk = asyncio.create_task(service.run(plan, progress=lambda _r: first_done.set()))
            await first_done.wait()
            on_demand = await asyncio.gather(
                *(service.run(plan, [m], lane="priority") for m in ("h-2", "h-4", "h-6"))
            )
            bulk_report = await bulk

    assert bulk_report.all_ok and all(r.all_ok for r in on_demand)
    requests = [f for f in proxy.frames if f.direction == "C"]
    assert len(requests) > 9 * 3  # 9 sessions of several exchanges each were on the wire
    assert proxy.connections == 9
    assert overlapping_requests(proxy.frames) == []
    # and one session at a time: connections never interleave on the wire
    order = [f.connection for f in sorted(proxy.frames, key=lambda f: f.at)]
    runs = [c for i, c in enumerate(order) if i == 0 or order[i - 1] != c]
    assert len(runs) == len(set(runs)) == 9


async def test_on_demand_read_is_served_before_queued_bulk_meters(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, concentrator("dc", "h", 6))
    async with simulated_fleet(config) as (sim, served):
        sim.by_channel["dc"].response_delay_s = 0.01
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(served, store)
            plan = served.fleet.plan("registers")
            done: list[tuple[str, str]] = []
            first_done = asyncio.Event()

            def bulk_progress(report: MeterReport) -> None:
                done.append(("bulk", report.meter_id))
                first_done.set()

            # two bulk runs on one concentrator: a bulk session is always queued for the turn
            bulk = [
                asyncio.create_task(service.run(plan, ids, progress=bulk_progress))
                for ids in (["h-1", "h-2", "h-3"], ["h-4", "h-5", "h-6"])
            ]
            await first_done.wait()
            queued_then = 6 - len(done)
            on_demand = await service.run(
                plan, ["h-6"], lane="priority", progress=lambda r: done.append(("prio", r.meter_id))
            )
            await asyncio.gather(*bulk)

    assert on_demand.all_ok and queued_then >= 4
    position = done.index(("prio", "h-6"))
    # only the bulk session in progress when it asked went before it, not the queued ones
    assert position <= 2, done
    assert len([d for d in done[position:] if d[0] == "bulk"]) >= 3, done


async def test_silent_meter_retries_wait_behind_the_others(tmp_path: Path) -> None:
    timeout_s = 1.0
    config = fleet_config(
        tmp_path, concentrator("dc", "h", 5, timeout_s=timeout_s), retries=2, backoff=0.05
    )
    loop = asyncio.get_running_loop()
    async with simulated_fleet(config, silent=["h-2"]) as (_sim, served):
        async with (
            HdlcProxy(served.fleet.channel("dc").port).running() as proxy,  # type: ignore[union-attr]
            await SqliteStore.open(tmp_path / "r.sqlite3") as store,
        ):
            served = with_port(served, "dc", proxy.port)
            finished: dict[str, float] = {}
            started = loop.time()
            report = await ReadingService(served, store).run(
                served.fleet.plan("registers"),
                progress=lambda r: finished.setdefault(r.meter_id, loop.time()),
            )

    by_id = {m.meter_id: m for m in report.meters}
    silent = by_id["h-2"]
    assert silent.status is MeterStatus.FAILED and silent.cause == "timeout"
    assert silent.attempts == 3
    others = [f"h-{i}" for i in (1, 3, 4, 5)]
    assert all(by_id[m].status is MeterStatus.OK for m in others)

    # the silent meter's sessions, as seen on the wire: one connection per attempt
    silent_starts = sorted(
        min(f.at for f in proxy.frames if f.connection == conn)
        for conn in {f.connection for f in proxy.frames if f.physical == 102}
    )
    assert len(silent_starts) == 3
    last_other = max(finished[m] for m in others)
    # its retries went to the back of the queue: they start after every other meter is done
    assert silent_starts[1] > last_other
    # so the others waited for at most its first deadline (plus generous slack for a busy box)
    assert last_other - started < timeout_s + 20.0
    assert last_other < silent_starts[0] + timeout_s + 20.0
    # the breaker stayed closed: one silent meter is not a dead channel
    assert all(by_id[m].attempts == 1 for m in others)

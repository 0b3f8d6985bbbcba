"""The load manager's I/O edges: a cycle reads the feeder meters and the stored usage, submits the
controller's commands as the command service expects them, saves and publishes the records, logs
one line per feeder; a failing feeder does not stop the others; failed commands are re-decided;
the run loop cycles on the cycle's boundaries in service time."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from drivers.contract import Reading
from headend.config.load import DemandResponseEvent, FeederSettings, LoadSettings
from headend.load.manager import LoadManager, OutgoingCommand, command_id, submit_to, usage_kw
from headend.load.metrics import LoadCycle
from headend.service.clock import ScaledClock

T0 = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)


def load_settings() -> LoadSettings:
    return LoadSettings.model_validate(
        {
            "cycle": "PT5M",
            "lease": "PT15M",
            "feeders": [
                {
                    "id": "f1",
                    "capacity_kw": 4,
                    "margin": 0,
                    "meter": "m1",
                    "households": ["a", "b"],
                },
                {
                    "id": "f2",
                    "capacity_kw": 4,
                    "margin": 0,
                    "meter": "m2",
                    "households": ["c", "d"],
                },
                {"id": "f3", "capacity_kw": 4, "margin": 0, "meter": "m3", "households": ["e"]},
            ],
        }
    )


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    @property
    def factor(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return self.at

    async def sleep(self, simulated_seconds: float) -> None:
        await asyncio.sleep(0)


class Store:
    def __init__(self, watts: Mapping[str, str], unit: str | None = "W") -> None:
        self.watts = dict(watts)
        self.unit = unit
        self.asked: list[tuple[str, list[str], datetime | None]] = []
        self.broken: set[str] = set()

    async def latest_values(
        self,
        obis: str,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> dict[str, Reading]:
        ids = list(meter_ids or ())
        self.asked.append((obis, ids, since))
        if self.broken & set(ids):
            raise OSError("database is locked")
        return {
            m: Reading(
                meter_id=m,
                obis=obis,
                value=Decimal(self.watts[m]),
                unit=self.unit,
                receive_time=T0,
            )
            for m in ids
            if m in self.watts
        }


@dataclass
class Rig:
    manager: LoadManager
    store: Store
    sent: list[OutgoingCommand]
    saved: list[LoadCycle]
    published: list[LoadCycle]
    feeder_kw: dict[str, float | None]


def rig(clock: Any = None, coalesce: bool = False, **watts: str) -> Rig:
    store = Store(watts or {"a": "3000", "b": "3000", "c": "1000", "d": "1000", "e": "500"})
    sent: list[OutgoingCommand] = []
    saved: list[LoadCycle] = []
    published: list[LoadCycle] = []
    feeder_kw: dict[str, float | None] = {"m1": 6.0, "m2": 2.0, "m3": 0.5}

    async def read_feeder(feeder: FeederSettings) -> float | None:
        value = feeder_kw[feeder.meter]
        if value is not None and value < 0:
            raise TimeoutError("no answer from the feeder meter")
        return value

    async def submit(command: OutgoingCommand) -> None:
        sent.append(command)

    async def save(cycles: Sequence[LoadCycle]) -> None:
        saved.extend(cycles)

    async def publish(cycle: LoadCycle) -> None:
        published.append(cycle)

    manager = LoadManager(
        load_settings(),
        clock=clock or FrozenClock(T0),
        read_feeder=read_feeder,
        store=store,
        submit=submit,
        save=save,
        publish=publish,
        coalesce=coalesce,
    )
    return Rig(manager, store, sent, saved, published, feeder_kw)


async def test_a_cycle_limits_the_overloaded_feeder_and_records_every_feeder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    with caplog.at_level(logging.INFO, logger="headend.load.manager"):
        decisions = await r.manager.run_cycle()
    assert [d.feeder for d in decisions] == ["f1", "f2", "f3"]
    assert sorted((c.meter, c.action, c.limit_w) for c in r.sent) == [
        ("a", "limit", Decimal(2000)),
        ("b", "limit", Decimal(2000)),
    ]
    command = r.sent[0]
    assert command.requester == "load-manager" and command.priority == 1
    assert command.expires_at == T0 + timedelta(minutes=15)  # three cycles
    assert command.lease_s == 900
    assert command.id == command_id("f1", command.meter, "limit", T0)
    assert "over usable 4.0 kW" in command.reason
    # Usage was asked of the store for each feeder's households, recent ones only.
    assert ("1.0.1.7.0.255", ["a", "b"], T0 - timedelta(minutes=30)) in r.store.asked
    assert [c.feeder for c in r.saved] == ["f1", "f2", "f3"] == [c.feeder for c in r.published]
    assert r.saved[0].overloaded and r.saved[0].limited == 2
    # the manager's own lines: a record from elsewhere (asyncio reporting a task of an earlier
    # test that the garbage collector reached just now) is not this cycle's
    lines = sorted(r.getMessage() for r in caplog.records if r.name == "headend.load.manager")
    assert [line.split(":")[1] for line in lines] == [" feeder f1", " feeder f2", " feeder f3"]
    assert lines[0].startswith("load: feeder f1: load 6.0 kW of 4.0 kW usable")


async def test_a_failing_feeder_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    r = rig()
    r.feeder_kw["m1"] = -1  # its meter times out
    r.store.broken.add("c")  # f2's usage cannot be fetched
    with caplog.at_level(logging.INFO, logger="headend.load.manager"):
        decisions = await r.manager.run_cycle()
    assert [d.feeder for d in decisions] == ["f1", "f3"]
    f1 = decisions[0]
    assert f1.cycle.load_kw is None
    # The households' use as stored still shows the overload: limited anyway.
    assert {c.meter for c in r.sent} == {"a", "b"}
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "feeder meter m1: TimeoutError: no answer from the feeder meter" in text
    assert "load: feeder f2: cycle failed: OSError: database is locked" in text
    assert [c.feeder for c in r.saved] == ["f1", "f3"]


async def test_a_failed_command_is_decided_again_next_cycle() -> None:
    clock = FrozenClock(T0)
    r = rig(clock)
    await r.manager.run_cycle()
    assert len(r.sent) == 2
    failed = next(c for c in r.sent if c.meter == "a")

    @dataclass
    class Record:
        id: str
        meter: str | None
        action: str
        state: str
        requester: str

    await r.manager.on_command_final(Record(failed.id, "a", "limit", "failed", "load-manager"))
    await r.manager.on_command_final(Record("x", "b", "limit", "failed", "cli"))  # not ours
    r.store.watts.update(a="2000", b="2000")
    r.feeder_kw["m1"] = 4.0
    clock.at = T0 + timedelta(minutes=5)
    r.sent.clear()
    await r.manager.run_cycle()
    assert [(c.meter, c.action) for c in r.sent] == [("a", "limit")]


@dataclass
class FinalRecord:
    id: str
    meter: str | None
    action: str
    state: str
    requester: str = "load-manager"


async def test_no_second_limit_while_the_last_is_on_its_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FrozenClock(T0)
    r = rig(clock, coalesce=True)
    await r.manager.run_cycle()
    first = {c.meter: c for c in r.sent}
    assert sorted(first) == ["a", "b"]
    # ten minutes on, both leases want renewing, but neither limit has been confirmed yet
    clock.at = T0 + timedelta(minutes=10)
    r.sent.clear()
    with caplog.at_level(logging.INFO, logger="headend.load.manager"):
        await r.manager.run_cycle()
    assert r.sent == []
    assert any("2 limits held back" in rec.getMessage() for rec in caplog.records)
    # a's limit lands; b's is still queued: only a gets its next limit
    await r.manager.on_command_final(FinalRecord(first["a"].id, "a", "limit", "confirmed"))
    clock.at = T0 + timedelta(minutes=15)
    r.sent.clear()
    await r.manager.run_cycle()
    assert [(c.meter, c.action) for c in r.sent] == [("a", "limit")]


async def test_without_coalescing_every_decision_is_sent() -> None:
    clock = FrozenClock(T0)
    r = rig(clock)
    await r.manager.run_cycle()
    clock.at = T0 + timedelta(minutes=10)
    r.sent.clear()
    await r.manager.run_cycle()
    assert sorted(c.meter for c in r.sent) == ["a", "b"]  # the renewals


async def test_a_command_that_cannot_be_submitted_is_retried_next_cycle() -> None:
    clock = FrozenClock(T0)
    r = rig(clock)
    calls = 0
    original = r.manager._submit

    async def flaky(command: OutgoingCommand) -> None:
        nonlocal calls
        calls += 1
        if command.meter == "a" and calls <= 2:
            raise OSError("store unavailable")
        await original(command)

    r.manager._submit = flaky
    first = await r.manager.run_cycle()
    assert [c.meter for c in r.sent] == ["b"]
    assert first[0].feeder == "f1"
    clock.at = T0 + timedelta(minutes=5)
    r.store.watts.update(a="3000", b="2000")
    r.feeder_kw["m1"] = 5.0
    await r.manager.run_cycle()
    assert [c.meter for c in r.sent] == ["b", "a"]


async def test_demand_response_events_added_at_run_time() -> None:
    clock = FrozenClock(T0)
    r = rig(clock, a="1000", b="1000", c="1000", d="1000", e="2000")
    r.feeder_kw.update(m1=2.0, m2=2.0, m3=2.0)
    r.manager.add_event(
        DemandResponseEvent(
            id="dr", feeder="f3", start=T0, end=T0 + timedelta(hours=1), reduction_kw=1.0
        )
    )
    await r.manager.run_cycle()
    assert [(c.meter, c.limit_w) for c in r.sent] == [("e", Decimal(1000))]
    assert r.sent[0].reason.startswith("demand response dr:")


async def test_submit_to_builds_the_command_services_request() -> None:
    got: list[Any] = []

    class Service:
        async def submit(self, request: Any) -> Any:
            got.append(request)
            return request

    command = OutgoingCommand(
        id=command_id("f1", "a", "limit", T0),
        meter="a",
        action="limit",
        reason="overload",
        expires_at=T0 + timedelta(minutes=5),
        limit_w=Decimal(2000),
        lease_s=900,
    )
    await submit_to(Service())(command)
    (request,) = got
    assert request.action == "limit" and request.limit_w == Decimal(2000)
    assert request.lease_s == 900 and request.priority == 1
    assert request.requester == "load-manager" and request.id == command.id
    release = OutgoingCommand(
        id="load:f1:a:release:x", meter="a", action="release", reason="r", expires_at=T0
    )
    await submit_to(Service())(release)
    assert got[-1].action == "release" and got[-1].limit_w is None


def test_usage_units() -> None:
    def reading(value: Any, unit: str | None) -> Reading:
        return Reading(meter_id="a", obis="1.0.1.7.0.255", value=value, unit=unit, receive_time=T0)

    assert usage_kw(reading(Decimal(1500), "W")) == 1.5
    assert usage_kw(reading(Decimal("1.5"), "kW")) == 1.5
    assert usage_kw(reading(Decimal(-800), None)) == -0.8
    assert usage_kw(reading(Decimal(5), "Wh")) is None
    quarter = timedelta(minutes=15)
    assert usage_kw(reading(Decimal(500), "Wh"), quarter) == 2.0
    assert usage_kw(reading(Decimal("0.25"), "kWh"), quarter) == 1.0
    assert usage_kw(reading(Decimal(5), "V"), quarter) is None
    assert usage_kw(reading("n/a", None)) is None


def test_long_ids_stay_within_the_command_id_limit() -> None:
    text = command_id("f" * 64, "h" * 64, "disconnect", T0)
    assert len(text) <= 128 and text.startswith("load:")
    assert text == command_id("f" * 64, "h" * 64, "disconnect", T0)


async def test_run_cycles_on_boundaries_until_stopped() -> None:
    # 3000 simulated seconds a real second: a 5-minute cycle every 0.1 s.
    clock = ScaledClock(datetime.now(UTC), 3000, start=T0 + timedelta(minutes=2))
    r = rig(clock)
    enough = asyncio.Event()
    inner = r.manager._publish
    assert inner is not None

    async def publish(cycle: LoadCycle) -> None:
        await inner(cycle)
        if len({c.at for c in r.published}) >= 3:
            enough.set()

    r.manager._publish = publish
    stop = asyncio.Event()
    task = asyncio.create_task(r.manager.run(stop))
    await asyncio.wait_for(enough.wait(), timeout=60)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    times = sorted({c.at for c in r.saved})
    # The first cycle at once, the next ones on the 5-minute boundaries of service time.
    assert times[1] - times[0] <= timedelta(minutes=5)
    assert times[0] >= T0 + timedelta(minutes=2)
    for earlier, later in itertools.pairwise(times[1:]):
        assert later - earlier == timedelta(minutes=5)
    assert all(t.minute % 5 == 0 and t.second == 0 and t.microsecond == 0 for t in times[1:])


async def test_stale_usage_is_not_used_in_service_time(caplog: pytest.LogCaptureFixture) -> None:
    # 60 simulated seconds a real second: a reading received 40 real seconds ago is 40
    # simulated minutes old, older than the 30 allowed; a profile value by its capture time.
    start = T0
    clock = ScaledClock(datetime.now(UTC), 60, start=start)
    wall = datetime.now(UTC)
    readings = {
        "a": Reading(
            meter_id="a",
            obis="1.0.1.7.0.255",
            value=Decimal(3000),
            unit="W",
            receive_time=wall - timedelta(seconds=40),
        ),
        "b": Reading(
            meter_id="b", obis="1.0.1.7.0.255", value=Decimal(3000), unit="W", receive_time=wall
        ),
        "c": Reading(
            meter_id="c",
            obis="1.0.1.7.0.255",
            value=Decimal(1000),
            unit="W",
            capture_time=start - timedelta(minutes=10),
            receive_time=wall - timedelta(seconds=40),
        ),
        "d": Reading(
            meter_id="d",
            obis="1.0.1.7.0.255",
            value=Decimal(1000),
            unit="W",
            capture_time=start - timedelta(minutes=40),
            receive_time=wall,
        ),
    }
    asked: list[datetime | None] = []

    class AgedStore:
        async def latest_values(
            self,
            obis: str,
            meter_ids: Sequence[str] | None = None,
            since: datetime | None = None,
        ) -> dict[str, Reading]:
            asked.append(since)
            return {m: readings[m] for m in meter_ids or () if m in readings}

    r = rig(clock)
    r.manager._store = AgedStore()
    with caplog.at_level(logging.INFO, logger="headend.load.manager"):
        await r.manager.run_cycle()
    lines = {
        rec.getMessage().split(":")[1].strip(): rec.getMessage()
        for rec in caplog.records
        if rec.name == "headend.load.manager"
    }
    # a (received too long ago) and d (captured too long ago) are left out; b and c count.
    assert "; 1 households without recent usage" in lines["feeder f1"]
    assert "; 1 households without recent usage" in lines["feeder f2"]
    assert all(since is not None and since <= wall - timedelta(seconds=30) for since in asked)


async def test_restored_disconnections_reach_their_feeders() -> None:
    r = rig()
    assert r.manager.restore_disconnected({"c": 1.0, "zz": 2.0}) == ["zz"]
    assert r.manager.controllers["f2"].step(T0, 1.0, {"d": 1.0}).disconnected == {"c"}


async def test_notices_are_handed_to_notify() -> None:
    r = rig()
    seen: list[tuple[str, str]] = []

    async def notify(feeder: str, text: str) -> None:
        seen.append((feeder, text))

    r.manager._notify = notify
    r.manager.add_event(
        DemandResponseEvent(
            id="dr", feeder="f3", start=T0, end=T0 + timedelta(hours=1), reduction_kw=1.0
        )
    )
    r.feeder_kw["m2"] = None  # f2's meter gives nothing: said in its cycle's report
    decisions = {d.feeder: d for d in await r.manager.run_cycle()}
    assert seen == [("f3", "event dr version 1 scheduled")]
    assert "load not read (meter m2; households' use as read)" in decisions["f2"].cycle.report

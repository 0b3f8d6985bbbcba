"""The reading service against the real DLMS simulator over TCP (wrapper and HDLC concentrator).

One meter never answers, one channel is down, one meter closes the connection mid-read: the
others are read in full and every value obtained is stored.
"""

from __future__ import annotations

from drivers.sim.dlms_sim import DlmsFaults
from headend.config import load_config, meter_settings
from headend.reading import MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.conftest import free_port
from tests.headend.fleets import write_fleet

FAULTS = {"w-silent": DlmsFaults(silent=True), "h-closing": DlmsFaults(close_after=3)}


def down(config):
    """The config with channel gprs-down pointing at a port nobody listens on."""
    channels = [
        c.model_copy(update={"port": free_port()}) if c.id == "gprs-down" else c
        for c in config.fleet.channels
    ]
    fleet = config.fleet.model_copy(update={"channels": channels})
    return type(config)(config.path, fleet, config.keys)


async def test_fleet_read_isolates_failures_and_keeps_partial_results(tmp_path):
    config = load_config(write_fleet(tmp_path), env={})
    async with simulated_fleet(config, faults=FAULTS) as (_sim, served):
        served = down(served)
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(served, store, contacts=store, counters=store)
            seen = []
            report = await service.run(served.fleet.plan("full"), progress=seen.append)

            by_id = {m.meter_id: m for m in report.meters}
            assert [m.meter_id for m in report.meters] == [m.id for m in served.fleet.meters]
            assert sorted(r.meter_id for r in seen) == sorted(by_id)
            for ok in ("w-ok", "w-lls", "h-hls", "h-none"):
                assert by_id[ok].status is MeterStatus.OK, by_id[ok]
                assert by_id[ok].readings > 4  # 4 registers + profile values
                assert by_id[ok].stored == by_id[ok].readings
                assert await store.count_readings(ok) == by_id[ok].readings
                contact = await store.last_contact(ok)
                assert contact is not None and contact.ok

            silent = by_id["w-silent"]
            assert silent.status is MeterStatus.FAILED and silent.attempts == 2
            assert silent.error is not None and "timeout" in silent.error
            assert {f.obis for f in silent.failures} >= {"1.0.1.8.0.255", "1.0.99.1.0.255"}

            dead = by_id["w-down"]
            assert dead.status is MeterStatus.FAILED
            assert dead.error is not None and "channel down" in dead.error
            contact = await store.last_contact("w-down")
            assert (
                contact is not None and not contact.ok and "channel down" in (contact.error or "")
            )

            closing = by_id["h-closing"]
            assert closing.status is MeterStatus.PARTIAL, closing
            assert closing.readings > 0 and closing.failures
            stored = await store.readings(meter_id="h-closing")
            assert len(stored) == closing.readings
            assert not {r.obis for r in stored} & {f.obis for f in closing.failures}

            assert report.count(MeterStatus.OK) == 4
            assert report.readings == sum(m.readings for m in report.meters)
            # the HLS meter's invocation counter was persisted
            key = meter_settings(served, "h-hls").counter_key("h-hls")
            assert (await store.load_counter(key) or 0) > 0


async def test_rerun_stores_nothing_twice(tmp_path):
    config = load_config(write_fleet(tmp_path), env={})
    ids = ["w-ok", "h-none"]
    async with simulated_fleet(config) as (_sim, served):
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(served, store)
            plan = served.fleet.plan("full")
            first = await service.run(plan, ids)
            assert first.all_ok and first.stored == first.readings
            # the same profile window again: profile rows are already stored
            jobs_now = first.started_at
            second = await service.run(plan, ids, now=jobs_now)
            third = await service.run(plan, ids, now=jobs_now)
            assert second.all_ok and third.all_ok
            total = await store.count_readings()
            assert third.stored < third.readings
            assert total == first.stored + second.stored + third.stored


async def test_retry_reads_only_what_is_missing(tmp_path):
    text = write_fleet(tmp_path).read_text().replace("retries = 1", "retries = 5")
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    config = load_config(path, env={})
    async with simulated_fleet(config, faults={"h-closing": DlmsFaults(close_after=3)}) as (
        _sim,
        served,
    ):
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            report = await ReadingService(served, store).run(
                served.fleet.plan("registers"), ["h-closing"]
            )
    meter = report.meters[0]
    assert meter.status is MeterStatus.OK, meter
    assert meter.attempts > 1
    assert meter.readings == 4  # each point read once across the attempts

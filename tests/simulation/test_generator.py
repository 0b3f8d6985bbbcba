"""The fleet generator: the file it writes is a valid fleet file with the fleet asked for."""

from __future__ import annotations

import ipaddress
import tomllib
from datetime import timedelta

import pytest
from pydantic import ValidationError

from headend.config import load_config
from headend.config.fleet import DlmsMeter, Dlt645Meter, ModbusMeter, TcpChannel
from headend.simulation.generator import FleetShape, counts, generate, gprs_address, to_toml

MIXED = FleetShape(
    meters=30,
    concentrators=1,
    meters_per_concentrator=10,
    modbus_gateways=1,
    units_per_gateway=5,
    dlt645_lines=1,
    meters_per_line=5,
    cipher_share=0.25,
)


def test_generated_file_loads_with_the_fleet_asked_for(tmp_path):
    data = generate(MIXED)
    path = tmp_path / "fleet.toml"
    path.write_text(to_toml(data, "a header\nof two lines"))
    assert tomllib.loads(path.read_text()) == data  # the writer renders what it was given
    fleet = load_config(path).fleet
    assert counts(data) == {"gprs": 10, "hdlc": 10, "modbus": 5, "dlt645": 5}
    assert len(fleet.meters) == 30
    hdlc = [m for m in fleet.meters if m.channel == "dc01"]
    assert [m.id for m in hdlc][:2] == ["dc01-0001", "dc01-0002"]
    assert all(isinstance(m, DlmsMeter) and m.framing and m.framing.value == "hdlc" for m in hdlc)
    assert len({m.server_physical for m in hdlc if isinstance(m, DlmsMeter)}) == 10
    units = [m for m in fleet.meters if isinstance(m, ModbusMeter)]
    assert [m.id for m in units] == [f"mb01-u{u:02d}" for u in range(1, 6)]
    assert {m.model for m in units} == {"dtsu666", "sdm630", "sdm120"}
    assert all(m.framing == "rtu" for m in units)
    lines = [m for m in fleet.meters if isinstance(m, Dlt645Meter)]
    assert [m.id for m in lines] == [f"dlt01-m{i}" for i in range(1, 6)]
    assert len({m.address for m in lines}) == 5
    # GPRS meters: one channel each, own loopback address, one port
    gprs = [c for c in fleet.channels if c.id.startswith("gprs-")]
    assert [c.id for c in gprs] == [f"gprs-{i:06d}" for i in range(1, 11)]
    assert all(isinstance(c, TcpChannel) and c.port == 4059 for c in gprs)
    hosts = [c.host for c in gprs if isinstance(c, TcpChannel)]
    assert len(set(hosts)) == 10 and hosts[0] == "127.1.0.1"
    # a quarter of the 20 DLMS meters ciphered, spread over both kinds, with demo keys
    ciphered = [m for m in fleet.meters if isinstance(m, DlmsMeter) and m.cipher]
    assert len(ciphered) == 5
    assert {m.channel.startswith("gprs") for m in ciphered} == {True, False}
    assert all(m.auth.value == "hls-gmac" and m.key for m in ciphered)
    assert fleet.simulation is not None and fleet.simulation.history == timedelta(days=1)
    assert fleet.reading.max_channels >= 10_000
    daily = fleet.plan("daily")
    assert daily.profile == "1.0.99.1.0.255" and daily.profile_window == timedelta(days=1)
    assert [str(p) for p in fleet.plan("daily-registers").points] == [
        "1.0.1.8.0.255",
        "1.0.1.8.1.255",
        "1.0.1.8.2.255",
        "1.0.1.8.3.255",
        "1.0.1.8.4.255",
        "1.0.2.8.0.255",
        "0.0.1.0.0.255",
    ]
    assert daily.points == fleet.plan("daily-registers").points


def test_gprs_addresses_skip_network_and_broadcast_host_parts():
    addresses = [gprs_address(i) for i in range(1000)]
    assert len(set(addresses)) == 1000
    assert addresses[253] == "127.1.0.254" and addresses[254] == "127.1.1.1"
    for text in addresses:
        address = ipaddress.IPv4Address(text)
        assert address.is_loopback and address.packed[3] not in (0, 255)
        assert text != "127.0.0.1"


def test_small_fleets_fill_concentrators_first_and_drop_empty_ones():
    data = generate(FleetShape(meters=15, concentrators=3, meters_per_concentrator=10))
    assert counts(data)["hdlc"] == 15 and counts(data)["gprs"] == 0
    assert [c["id"] for c in data["channels"]] == ["dc01", "dc02"]


def test_plain_fleet_has_no_demo_keys_and_numbers_wider_fleets_wider():
    data = generate(FleetShape(meters=12))
    assert "demo_keys" not in data["simulation"]
    big = generate(FleetShape(meters=3, concentrators=120, meters_per_concentrator=1))
    assert big["meters"][0]["id"] == "dc001-0001"


def test_shape_is_checked():
    with pytest.raises(ValidationError):
        FleetShape(meters=10, cipher_share=1.5)
    with pytest.raises(ValidationError):
        FleetShape(meters=0)


def test_accelerated_simulation_widens_the_clock_drift_check_and_real_time_keeps_it(tmp_path):
    # at factor 60 the simulated clocks run ahead of the head-end's by design: without a wider
    # threshold every register would be flagged clock-suspect
    for factor, expect_default in ((60.0, False), (1.0, True)):
        path = tmp_path / f"f{factor:g}.toml"
        path.write_text(to_toml(generate(FleetShape(meters=3, factor=factor)), "test"))
        drift = load_config(path).fleet.reading.clock_drift_max_s
        assert (drift == 60.0) is expect_default
        assert drift >= 60.0

"""Serve a configured fleet as simulated meters (for `headend simulate` and `headend demo`).

Each channel of the fleet becomes one simulated endpoint, serving the meters of one protocol:

- DLMS: a TCP channel whose meter uses the wrapper is one simulated meter on its own port (like a
  GPRS meter with its own address); a TCP channel with HDLC meters is a simulated concentrator's
  transparent channel; a serial channel is an HDLC line on a pseudo-terminal. Meters get the key
  material their key reference resolves to, so the head-end and the simulator agree on keys.
- Modbus: the units of a channel share one simulated bus (`ModbusSimServer`, one request at a
  time) serving each unit's register map. On a TCP channel the meters' framing decides the wire:
  `socket` (MBAP, a Modbus TCP meter or gateway) or `rtu` (RTU frames through an RS-485 gateway);
  a serial channel is an RTU bus on a pseudo-terminal.
- DL/T 645: the meters of a channel are several addresses on one simulated RS-485 line
  (`Dlt645Simulator`), behind a serial-to-Ethernet converter on TCP or on a pseudo-terminal.
  Pseudo-terminals refuse even parity, so a simulated serial line runs 8N1 whatever the file says.
  DL/T 645 meters get at least 26 hours of history, so their last daily freeze exists.

A channel mixing protocols is a configuration error for the simulator. Every simulated meter has
the same consumption model and shares the simulation clock (`[simulation] factor`). Meters named
in `silent` never answer (a dead meter of any protocol, for failure tests).

GPRS meters dialled by address: wrapper channels of one meter each whose host is a loopback
address other than 127.0.0.1 (127.x.y.z, as `headend simulate --meters N` generates them) and
that share a port are served by ONE listener on the wildcard address, which tells the meter by
the local address dialled (`DlmsSimulator.serve_wrapper_by_address`): 10,000 meters, one socket.

With `configured_ports=False` every endpoint binds a free loopback port instead (the demo does
this so it never collides with anything), and the returned config points at those ports;
`keep_dialled_ports` keeps the configured port of the meters dialled by address even then (the
fleet generator: GPRS meters on the standard port, everything else on free ports).

Meters are built when first used unless `prebuild` (the default) builds them all at start:
integrating a meter's history costs about 0.3 ms of CPU per simulated day (the COSEM server's
objects come on top), which for a generated fleet of 100,000 meters is a minute.
`response_delay_s` makes every simulated meter answer that much later (DLMS, Modbus and DL/T 645
alike).

Two-way control (issue 9): `feeders` maps the id of a configured DLMS meter to the ids of the
household meters it supplies; that meter is then a `FeederMeter` (drivers/sim/feeder.py) at the
transformer, measuring the households' summed power and net energy, PV export included, and
served like any DLMS meter. `control_modes` sets meters' disconnect control modes (Blue Book
0..6; the simulator's default 2 reconnects at once, 1/3/5/6 only arm a remote reconnect until
`SimulatedFleet.meter(id).press_button()`). Both can also be set on a `SimulatedFleet` by hand:
`attach_feeder` before the feeder meter is first built, `set_control_mode` at any time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import timedelta

from drivers.dlms.settings import DlmsFraming
from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.cosem.events import configure_push
from drivers.sim.dlms_sim import DlmsFaults, DlmsSimulator
from drivers.sim.dlt645_sim import Dlt645Simulator, line_offset
from drivers.sim.feeder import FeederMeter
from drivers.sim.modbus import ModbusSimServer
from drivers.sim.physics import SimulatedMeter
from headend.config.errors import ConfigError
from headend.config.fleet import (
    DlmsMeter,
    Dlt645Meter,
    ModbusMeter,
    SerialChannel,
    Simulation,
    TcpChannel,
)
from headend.config.loader import HeadendConfig
from headend.simulation.serving import (
    AnyMeter,
    Serving,
    dialled_by_address,
    port_problem,
    serve_by_address,
    serve_dlms,
    serve_dlt645,
    serve_modbus,
)

DLT645_MIN_HISTORY = timedelta(hours=26)
"""A DL/T 645 meter's last daily freeze (taken at local midnight) must exist from the start."""


class SimulatedFleet:
    """The simulators serving a fleet: one per channel (each concentrator, gateway or RS-485 line
    has its own address space)."""

    def __init__(
        self,
        clock: SimClock,
        specs: Mapping[str, tuple[int, timedelta]] | None = None,
        push_destination: str | None = None,
        pv_share: float = 0.2,
    ) -> None:
        self.clock = clock
        self.pv_share = pv_share  # share of the households given rooftop PV by their seed
        # "host:port" the DLMS meters push their power failures to (class 40), or None
        self.push_destination = push_destination
        self.meters: dict[str, SimulatedMeter] = {}  # the meters built so far
        self._specs = dict(specs or {})  # meter id -> (seed, history), to build on first use
        self.protocols: dict[str, str] = {}  # meter id -> protocol
        self.by_channel: dict[str, DlmsSimulator] = {}
        self.by_meter: dict[str, DlmsSimulator] = {}
        self.modbus: dict[str, ModbusSimServer] = {}  # channel id -> bus
        self.dlt645: dict[str, Dlt645Simulator] = {}  # channel id -> line
        self.feeders: dict[str, tuple[str, ...]] = {}  # feeder meter id -> household meter ids

    def attach_feeder(self, feeder_meter_id: str, household_ids: Sequence[str]) -> None:
        """Make `feeder_meter_id` (a DLMS meter of the fleet, not built yet) the meter at the
        head of a feeder supplying `household_ids`: it measures their sum."""
        households = tuple(household_ids)
        unknown = [m for m in (feeder_meter_id, *households) if m not in self._specs]
        if unknown:
            raise ValueError(f"feeder {feeder_meter_id}: unknown meter(s) {', '.join(unknown)}")
        if self.protocols.get(feeder_meter_id, "dlms") != "dlms":
            raise ValueError(f"feeder meter {feeder_meter_id} must be a DLMS meter")
        if feeder_meter_id in households or not households:
            raise ValueError(f"feeder {feeder_meter_id} needs households other than itself")
        if feeder_meter_id in self.meters:
            raise ValueError(f"feeder meter {feeder_meter_id} is already built as a household")
        self.feeders[feeder_meter_id] = households

    def set_control_mode(self, meter_id: str, mode: int) -> None:
        """The meter's disconnect control mode (0..6, see drivers/sim/control.py)."""
        self.meter(meter_id).set_control_mode(mode)

    def meter(self, meter_id: str) -> SimulatedMeter:
        """The simulated meter (built now if it was not yet)."""
        meter = self.meters.get(meter_id)
        if meter is None and meter_id in self.feeders:
            households = [self.meter(h) for h in self.feeders[meter_id]]
            meter = FeederMeter(meter_id, self.clock, households)
            self.meters[meter_id] = meter
        if meter is None:
            seed, history = self._specs[meter_id]
            # a DL/T 645 meter freezes its daily and settlement values at its line's midnight
            offset = line_offset() if self.protocols.get(meter_id) == "dlt645" else timedelta(0)
            meter = SimulatedMeter(
                meter_id,
                self.clock,
                profile=HouseholdProfile.random(seed, self.pv_share),
                seed=seed,
                history=history,
                billing_offset=offset,
            )
            if self.push_destination and self.protocols.get(meter_id) == "dlms":
                configure_push(meter, self.push_destination)
            self.meters[meter_id] = meter
        return meter

    def physical_address(self, meter_id: str) -> int:
        return self.by_meter[meter_id].physical_address(meter_id)


@contextlib.asynccontextmanager
async def simulated_fleet(
    config: HeadendConfig,
    *,
    configured_ports: bool = False,
    host: str = "127.0.0.1",
    faults: Mapping[str, DlmsFaults] | None = None,
    silent: Collection[str] = (),
    response_delay_s: float = 0.0,
    prebuild: bool = True,
    wildcard_host: str = "0.0.0.0",
    keep_dialled_ports: bool = False,
    push_destination: str | None = None,
    feeders: Mapping[str, Sequence[str]] | None = None,
    control_modes: Mapping[str, int] | None = None,
) -> AsyncIterator[tuple[SimulatedFleet, HeadendConfig]]:
    """Start simulators for every meter of `config`; yields them and the config to read.
    With `push_destination` ("host:port") the DLMS meters push their power failures there.
    `feeders` (feeder meter id -> household ids) and `control_modes` (meter id -> mode): see the
    module docstring."""
    fleet = config.fleet
    sim_cfg = fleet.simulation or Simulation()
    specs: dict[str, tuple[int, timedelta]] = {}
    on_channels: dict[str, list[AnyMeter]] = {}
    for i, m in enumerate(fleet.meters):
        history = sim_cfg.history
        if m.protocol == "dlt645":
            history = max(history, DLT645_MIN_HISTORY)
        specs[m.id] = (sim_cfg.seed + i, history)
        on_channels.setdefault(m.channel, []).append(m)
    handle = SimulatedFleet(
        SimClock(start=sim_cfg.clock_start, factor=sim_cfg.factor),
        specs,
        push_destination,
        pv_share=sim_cfg.pv_share,
    )
    handle.protocols.update((m.id, m.protocol) for m in fleet.meters)
    if feeders is None and fleet.load is not None:
        # the feeders of the [load] section: each feeder meter measures its households
        feeders = {f.meter: f.households for f in fleet.load.feeders}
    for feeder_id, household_ids in (feeders or {}).items():
        handle.attach_feeder(feeder_id, household_ids)
    for meter_id, mode in (control_modes or {}).items():
        handle.set_control_mode(meter_id, mode)
    if prebuild:
        for m in fleet.meters:
            handle.meter(m.id)
    ctx = Serving(handle, config, host, faults or {}, set(silent), response_delay_s)
    groups = dialled_by_address(fleet.channels, on_channels)
    grouped = {channel.id for members in groups.values() for channel, _meter in members}
    async with contextlib.AsyncExitStack() as stack:
        served_channels: dict[str, TcpChannel | SerialChannel] = {}
        served_meters: dict[str, AnyMeter] = {}
        for i, channel in enumerate(fleet.channels):
            where = f"channels[{i}]"
            on_channel = on_channels.get(channel.id, [])
            protocols = {m.protocol for m in on_channel}
            if not on_channel or channel.id in grouped:
                served_channels[channel.id] = channel
                continue
            if len(protocols) > 1:
                raise ConfigError.one(
                    config.path,
                    where,
                    f"the simulator serves one protocol per channel, found {sorted(protocols)}",
                )
            port = channel.port if configured_ports and isinstance(channel, TcpChannel) else 0
            with port_problem(config, where, host, port):
                if protocols == {"dlms"}:
                    dlms = [m for m in on_channel if isinstance(m, DlmsMeter)]
                    served = await serve_dlms(stack, ctx, where, channel, dlms, port)
                    served_channels[channel.id] = served
                    for meter in dlms:
                        if meter.framing is DlmsFraming.HDLC:
                            # HDLC meters without a configured physical address got one from the sim
                            update = {"server_physical": handle.physical_address(meter.id)}
                            served_meters[meter.id] = meter.model_copy(update=update)
                elif protocols == {"modbus"}:
                    units = [m for m in on_channel if isinstance(m, ModbusMeter)]
                    served_channels[channel.id] = await serve_modbus(
                        stack, ctx, where, channel, units, port
                    )
                else:
                    lines = [m for m in on_channel if isinstance(m, Dlt645Meter)]
                    served_channels[channel.id] = await serve_dlt645(
                        stack, ctx, where, channel, lines, port
                    )
        index = {c.id: i for i, c in enumerate(fleet.channels)}
        for group_port, members in groups.items():
            where = f"channels[{index[members[0][0].id]}]"
            port = group_port if configured_ports or keep_dialled_ports else 0
            with port_problem(config, where, wildcard_host, port):
                bound = await serve_by_address(stack, ctx, members, port, wildcard_host)
            for channel, _meter in members:
                same = channel.port == bound  # no copy of 100,000 unchanged channels
                served_channels[channel.id] = (
                    channel if same else channel.model_copy(update={"port": bound})
                )
        channels = [served_channels[c.id] for c in fleet.channels]
        all_meters = [served_meters.get(m.id, m) for m in fleet.meters]
        served_fleet = fleet.model_copy(update={"channels": channels, "meters": all_meters})
        yield handle, HeadendConfig(config.path, served_fleet, config.keys)

"""Commands of a cluster's scheduler: sent by the scheduler, under the channel's lease.

On a channel that carries one session at a time (a concentrator, a serial or RS-485 line) the
workers read under a lease in JetStream key-value (headend/cluster/leases.py). The scheduler
takes the same lease for each attempt of a command on such a channel, so no worker talks on it at
the same time. A lease held by a worker is waited for up to one lease TTL; still busy, the
attempt counts as a channel failure and the command service tries again after its backoff,
until the command's expiry. So on a half-duplex channel a command waits for the bulk job in
progress there (in one process it would only wait for the request in progress).
"""

from __future__ import annotations

from typing import Any

from nats.errors import Error as NatsError
from nats.js.errors import APIError

from headend.cluster.leases import ChannelLeases, LeaseBusy, LeaseLost
from headend.commands.model import CommandRecord, CommandState
from headend.commands.service import CommandService


class LeasedCommandService(CommandService):
    def __init__(self, *args: Any, leases: ChannelLeases, holder: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.leases = leases
        self.holder = holder  # the name the lease shows in `headend status`

    def _leased_channel(self, meter_id: str | None) -> str | None:
        fleet = self.config.fleet
        if meter_id is None or meter_id not in fleet.index.meters:
            return None
        channel = fleet.meter(meter_id).channel
        # the workers lease exactly these (headend.cluster.policy.needs_lease)
        return channel if fleet.concurrency(channel) == 1 else None

    async def _attempt(self, record: CommandRecord) -> tuple[CommandState | None, str]:
        channel = self._leased_channel(record.meter)
        if channel is None:
            return await super()._attempt(record)
        try:
            async with self.leases.hold(
                channel, self.holder, f"command {record.id}", wait_s=self.leases.ttl_s
            ):
                return await super()._attempt(record)
        except LeaseBusy as busy:
            return None, f"channel busy: {busy}"
        except LeaseLost as lost:
            return None, str(lost)
        except (NatsError, APIError, TimeoutError) as exc:
            # no lease to be had without NATS: not sent, tried again after the backoff
            return None, f"channel lease unavailable (NATS): {type(exc).__name__}"

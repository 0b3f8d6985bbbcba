"""Channel leases in a JetStream key-value bucket: one holder per half-duplex channel.

The bucket's TTL (`lease_ttl_s`, bucket-wide on nats-server 2.9) removes a lease that is not
renewed, so a worker that dies frees its channels within the TTL. Every write is conditional on
the revision (create only if absent, update and delete only at the holder's last revision), so
two workers can never both believe they hold a channel, and nobody deletes someone else's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from nats.errors import Error as NatsError
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from headend.cluster.subjects import token

LOG = logging.getLogger(__name__)

_WRONG_LAST = (10071, 10164)  # JetStream: wrong last sequence (someone else wrote the key)


class LeaseRecord(BaseModel):
    """The value stored under a channel's key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel_id: str
    holder: str  # worker id
    job_id: str
    acquired_at: datetime
    expires_at: datetime
    reason: Literal["channel job"] = "channel job"


@dataclass
class Lease:
    """A lease this process holds; `revision` is its last write (the condition of the next)."""

    record: LeaseRecord
    revision: int

    @property
    def channel_id(self) -> str:
        return self.record.channel_id


class LeaseBusy(Exception):
    """The channel is leased by someone else."""

    def __init__(self, channel_id: str, holder: LeaseRecord | None) -> None:
        who = f"worker {holder.holder} (job {holder.job_id})" if holder else "another worker"
        super().__init__(f"channel {channel_id!r} is leased by {who}")
        self.channel_id = channel_id
        self.holder = holder


class LeaseLost(Exception):
    """A lease this process held was taken over or expired before it was renewed."""


class ChannelLeases:
    def __init__(self, kv: KeyValue, ttl_s: float) -> None:
        self._kv = kv
        self.ttl_s = ttl_s

    def _record(self, channel_id: str, holder: str, job_id: str, since: datetime) -> LeaseRecord:
        now = datetime.now(UTC)
        return LeaseRecord(
            channel_id=channel_id,
            holder=holder,
            job_id=job_id,
            acquired_at=since,
            expires_at=now + timedelta(seconds=self.ttl_s),
        )

    async def acquire(self, channel_id: str, holder: str, job_id: str = "") -> Lease | None:
        """The lease if the channel was free, else None."""
        record = self._record(channel_id, holder, job_id, datetime.now(UTC))
        try:
            revision = await self._kv.create(token(channel_id), record.model_dump_json().encode())
        except KeyWrongLastSequenceError:
            return None
        except KeyNotFoundError:
            # nats-py's create looks the key up after a refusal, to retry over a delete marker;
            # a lease expiring in between leaves nothing to find: busy now, free at the next try
            return None
        except APIError as exc:
            if exc.err_code in _WRONG_LAST:
                return None
            raise
        return Lease(record, revision)

    async def renew(self, lease: Lease) -> Lease:
        """Extend `lease` by a TTL (updates it in place); LeaseLost if it is no longer ours."""
        record = self._record(lease.channel_id, lease.record.holder, lease.record.job_id,
                              lease.record.acquired_at)  # fmt: skip
        try:
            revision = await self._kv.update(
                token(lease.channel_id), record.model_dump_json().encode(), last=lease.revision
            )
        except KeyWrongLastSequenceError:
            raise LeaseLost(self._lost(lease)) from None
        except APIError as exc:
            if exc.err_code in _WRONG_LAST:
                raise LeaseLost(self._lost(lease)) from None
            raise
        lease.record, lease.revision = record, revision
        return lease

    @staticmethod
    def _lost(lease: Lease) -> str:
        return (
            f"lease of channel {lease.channel_id!r} (job {lease.record.job_id}) lost: "
            "expired or taken over"
        )

    async def release(self, lease: Lease) -> bool:
        """Delete `lease` if it is still ours (True); never deletes another holder's."""
        try:
            await self._kv.delete(token(lease.channel_id), last=lease.revision)
        except KeyWrongLastSequenceError:
            return False
        except APIError as exc:
            if exc.err_code in _WRONG_LAST:
                return False
            raise
        return True

    async def holder(self, channel_id: str) -> LeaseRecord | None:
        try:
            entry = await self._kv.get(token(channel_id))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return LeaseRecord.model_validate_json(entry.value)

    async def held(self) -> list[LeaseRecord]:
        """Every lease held now, by channel."""
        try:
            keys = await self._kv.keys()
        except NoKeysError:
            return []
        records: list[LeaseRecord] = []
        for key in keys:
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:  # expired or released meanwhile
                continue
            if entry.value:
                records.append(LeaseRecord.model_validate_json(entry.value))
        return sorted(records, key=lambda r: r.channel_id)

    @contextlib.asynccontextmanager
    async def hold(
        self, channel_id: str, holder: str, job_id: str = "", *, wait_s: float = 0.0
    ) -> AsyncIterator[Lease]:
        """Hold the channel's lease for the body: acquired (waiting up to `wait_s` for a holder
        to release it or let it expire; LeaseBusy then), renewed every TTL/3 in the background,
        released at the end. If it is lost meanwhile, the body is cancelled and LeaseLost
        raised: the channel may already be someone else's."""
        lease = await self._acquire_within(channel_id, holder, job_id, wait_s)
        body = asyncio.current_task()
        lost: list[LeaseLost] = []
        renewer = asyncio.create_task(self._keep(lease, body, lost))
        try:
            yield lease
        except asyncio.CancelledError:
            if lost and body is not None and body.uncancel() == 0:
                raise lost[0] from None
            raise
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if not lost:
                with contextlib.suppress(NatsError, TimeoutError, APIError):
                    # a release that fails leaves the lease to expire within the TTL
                    await self.release(lease)
        if lost:
            raise lost[0]

    async def _acquire_within(
        self, channel_id: str, holder: str, job_id: str, wait_s: float
    ) -> Lease:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            lease = await self.acquire(channel_id, holder, job_id)
            if lease is not None:
                return lease
            if loop.time() >= deadline:
                raise LeaseBusy(channel_id, await self.holder(channel_id))
            await asyncio.sleep(min(max(self.ttl_s / 10, 0.1), 2.0))

    async def _keep(
        self, lease: Lease, body: asyncio.Task[object] | None, lost: list[LeaseLost]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ttl_s
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew(lease)
                deadline = loop.time() + self.ttl_s
                continue
            except LeaseLost as exc:
                lost.append(exc)
            except (NatsError, TimeoutError, APIError) as exc:
                # NATS unreachable for a moment: retry while the lease may still be alive
                if loop.time() < deadline:
                    LOG.warning("renewing lease of %s: %s", lease.channel_id, type(exc).__name__)
                    continue
                lost.append(LeaseLost(self._lost(lease)))
            if body is not None:
                body.cancel()
            return

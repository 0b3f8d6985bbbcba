"""Invocation counters for ciphered DLMS sessions, reserved so that no value is ever used twice.

Security suite 0 (AES-GCM) is broken the moment one (key, system title, counter) triple is used
twice, and meters refuse a counter not above the last one they saw. So client counters are handed
out by the `CounterStore` in blocks, each taken in one atomic and durable step
(`reserve_counters`): two sessions to one meter, in one process or in two, or an on-demand read
beside a scheduled one, always get disjoint blocks, and a block is on disk before the first
ciphered APDU uses it, so a crash or a power cut never hands it out again.

* `begin()` reserves a block of `RESERVATION` values and the session counts up from its first;
* `ensure()`, before each request, reserves a further block when the session is about to run out.
  The new block need not follow the old one (another session may have reserved in between): the
  session jumps to its first value. Blocks only ever move up, so the counter still strictly
  increases within the session and across sessions;
* at the end, the unused rest of the block is simply skipped. A session uses up at least one block
  of `RESERVATION` values however few it sends: a meter read every 15 minutes for 50 years takes
  1.75 million blocks, about 10 % of the 2**32 counter space. Skipped values cost nothing (a meter
  only requires "above the last one"), and in exchange nobody ever has to know whether the
  previous process exited cleanly.

The meter's counter (the highest one seen in its replies) is persisted under a second key with
`save_counter` (which never moves backwards), so a reply replayed from an earlier session is
refused (`ReplayDetected`). Until a meter's first reply its counter is `NEVER_SEEN` (-1), so a
first reply with counter 0 is accepted.
"""

from __future__ import annotations

from drivers.contract import CounterStore
from drivers.errors import ProtocolError

RESERVATION = 256
# a new block is taken this many values before the current one runs out: a session may send a few
# ciphered APDUs (association, challenge reply) before the next `ensure`
HEADROOM = 8
MAX_COUNTER = 0xFFFFFFFF
# the meter's counter before any reply was seen: its first ciphered APDU may carry 0 (a meter
# with fresh keys, e.g. Gurux's server, starts there), which "above the last one" must accept
NEVER_SEEN = -1


class MemoryCounters:
    """Process-local counters when no store is configured (tests, one-shot reads).

    Reservations are atomic within the process (no await between reading and writing a value);
    nothing survives the process, so a real ciphered meter needs a persistent store.
    """

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    async def load_counter(self, key: str) -> int | None:
        return self._values.get(key)

    async def save_counter(self, key: str, value: int) -> None:
        self._values[key] = max(value, self._values.get(key, value))

    async def reserve_counters(self, key: str, count: int) -> int:
        if count < 1:
            raise ValueError(f"reserve at least one value of counter {key!r}, not {count}")
        first = self._values.get(key, 0)
        self._values[key] = first + count
        return first


PROCESS_COUNTERS: CounterStore = MemoryCounters()


class CounterReservation:
    """The client and meter invocation counters of one meter, for one session."""

    def __init__(self, store: CounterStore, client_key: str) -> None:
        self._store = store
        self.client_key = client_key
        self.meter_key = f"{client_key}:meter"
        self.next_client = 0
        self.reserved_until = 0
        self.meter_seen = NEVER_SEEN

    async def begin(self) -> None:
        """Reserve the first block and load the meter's counter; call before any ciphered APDU."""
        seen = await self._store.load_counter(self.meter_key)
        self.meter_seen = NEVER_SEEN if seen is None else seen
        self.next_client = await self._reserve()

    async def ensure(self, next_client: int) -> int:
        """The counter the session must use next: `next_client`, or the first of a new block when
        the current one is about to run out (the caller sets its counter to the value returned)."""
        if next_client < self.next_client:
            raise ProtocolError("invocation counter moved backwards within a session")
        self.next_client = next_client
        if next_client + HEADROOM >= self.reserved_until:
            held_until = self.reserved_until
            first = await self._reserve()
            if first != held_until:
                # another session reserved in between: its block lies below the new one, skip it
                self.next_client = max(next_client, first)
        return self.next_client

    async def finish(self, next_client: int, meter_seen: int) -> None:
        """Keep the meter's counter for the replay check; the client block's rest is skipped."""
        self.next_client = max(self.next_client, next_client)
        if meter_seen > self.meter_seen:
            self.meter_seen = meter_seen
            await self._store.save_counter(self.meter_key, meter_seen)

    async def _reserve(self) -> int:
        first = await self._store.reserve_counters(self.client_key, RESERVATION)
        if first + RESERVATION > MAX_COUNTER:
            # a key past its last counter must be replaced; reusing a counter is not an option
            raise ProtocolError("invocation counter exhausted: the global keys must be renewed")
        self.reserved_until = first + RESERVATION
        return first

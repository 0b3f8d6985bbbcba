"""Invocation counters for ciphered DLMS sessions, persisted so they never repeat.

Security suite 0 (AES-GCM) is broken the moment one (key, system title, counter) triple is used
twice, and meters refuse a counter not above the last one they saw. So the client counter is kept
in a `CounterStore` and moves strictly upwards across process restarts, even after a crash:

* before the first ciphered APDU of a session, `current + RESERVATION` is persisted, and the
  session uses counters below that mark only;
* if a session needs more, the mark is pushed up again before the counter reaches it;
* at close the exact next value is saved too. Stores never move a counter backwards, so after a
  clean close the next session starts at the reservation mark: at most `RESERVATION` values are
  skipped per session (2**32 / 256 = 16 million sessions per key), in exchange for never needing
  to know whether the previous process exited cleanly.

The meter's counter (the highest one seen in its replies) is persisted under a second key, so a
reply replayed from an earlier session is refused (`ReplayDetected`). Until a meter's first reply
its counter is `NEVER_SEEN` (-1), so a first reply with counter 0 is accepted.
"""

from __future__ import annotations

from drivers.contract import CounterStore
from drivers.errors import ProtocolError

RESERVATION = 256
MAX_COUNTER = 0xFFFFFFFF
# the meter's counter before any reply was seen: its first ciphered APDU may carry 0 (a meter
# with fresh keys, e.g. Gurux's server, starts there), which "above the last one" must accept
NEVER_SEEN = -1


class MemoryCounters:
    """Process-local fallback when no store is configured (tests, one-shot CLI reads)."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    async def load_counter(self, key: str) -> int | None:
        return self._values.get(key)

    async def save_counter(self, key: str, value: int) -> None:
        self._values[key] = max(value, self._values.get(key, value))

    async def reserve_counters(self, key: str, count: int) -> int:
        # no await between read and write: atomic on the event loop
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
        """Load both counters and reserve the first block; call before any ciphered APDU."""
        self.next_client = await self._store.load_counter(self.client_key) or 0
        seen = await self._store.load_counter(self.meter_key)
        self.meter_seen = NEVER_SEEN if seen is None else seen
        await self._reserve(self.next_client)

    async def ensure(self, next_client: int, headroom: int = 8) -> None:
        """Extend the reservation when the session is about to use counters beyond it."""
        self.next_client = next_client
        if next_client + headroom >= self.reserved_until:
            await self._reserve(next_client)

    async def finish(self, next_client: int, meter_seen: int) -> None:
        self.next_client = max(self.next_client, next_client)
        await self._store.save_counter(self.client_key, self.next_client)
        if meter_seen > self.meter_seen:
            self.meter_seen = meter_seen
            await self._store.save_counter(self.meter_key, meter_seen)

    async def _reserve(self, start: int) -> None:
        mark = min(start + RESERVATION, MAX_COUNTER)
        if start >= MAX_COUNTER:
            # a key past its last counter must be replaced; reusing a counter is not an option
            raise ProtocolError("invocation counter exhausted: the global keys must be renewed")
        await self._store.save_counter(self.client_key, mark)
        self.reserved_until = mark

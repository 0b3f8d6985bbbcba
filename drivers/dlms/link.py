"""The APDU link contract: what the DLMS session needs from its framing (wrapper or HDLC).

Client side: `ApduLink` carries one request APDU and returns the complete reply APDU, with all
segmentation done below it. Server side (simulators): an `ApduHandler` maps a request APDU for an
addressed logical device to its reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class ApduLink(Protocol):
    async def open(self, deadline: float) -> None:
        """Bring the link layer up (HDLC: SNRM/UA). Deadline is loop time."""
        ...

    async def exchange(self, apdu: bytes, deadline: float) -> bytes:
        """Send one APDU and return the whole reply APDU before `deadline` (loop time)."""
        ...

    async def close(self) -> None:
        """Take the link down (HDLC: DISC) and close the byte stream. Never raises."""
        ...


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """Who a request came from and which logical device (behind which physical one) it is for."""

    client: int
    logical: int
    physical: int | None = None


ApduHandler = Callable[[ServerAddress, bytes], bytes | None]
"""Server side: request APDU -> reply APDU (None: no reply). Called once per complete APDU."""

DisconnectHandler = Callable[[ServerAddress], None]
"""Server side: the association's lower layer went away (DISC or socket closed)."""

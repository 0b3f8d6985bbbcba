"""Parts that run inside `headend run` without the head-end knowing them: billing's fee control
is one (the head-end never imports billing; billing's side registers a factory here, and the
`headend` entry point, which composes both, loads it).

An extension is made for a daemon (or declines: a fleet file without its section), starts after
the head-end's own parts, stops before them, adds what it knows to `headend status`, and may
answer control-socket ops of its own (`{"op": "<name>", ...}` -> a JSON object).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from headend.service.daemon import Daemon

OpHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class DaemonExtension(Protocol):
    name: str  # its key in `headend status`

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def status(self) -> dict[str, Any]: ...

    def ops(self) -> dict[str, OpHandler]:
        """Control-socket ops it answers, by op name."""
        ...


ExtensionFactory = Callable[["Daemon"], Awaitable["DaemonExtension | None"]]

FACTORIES: list[ExtensionFactory] = []


def register(factory: ExtensionFactory) -> None:
    """Add a factory (once); every Daemon started afterwards asks it for an extension."""
    if factory not in FACTORIES:
        FACTORIES.append(factory)

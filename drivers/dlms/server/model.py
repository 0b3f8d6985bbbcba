"""The object-model interface: what the COSEM server asks of the objects it serves.

The server (APDUs, association, security) knows no meter. Each logical device gives it a
`CosemObjectModel`: GET, SET and ACTION by (class id, OBIS, attribute or method, selective
access), values in and out as encoded A-XDR bytes, refusals as `AccessFailure` (a
Data-Access-Result on the wire). The association object (0.0.40.0.0.255) is the server's own;
the model lists every other object for its object_list.

An object model built outside drivers/dlms (the simulator's meter objects, `sim/cosem`) builds and
reads values with `drivers.dlms.server.values` and names results with the `DataAccessResult`
re-exported here, so that every import of dlms_cosem stays inside drivers/dlms (licence).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from dlms_cosem.enumerations import DataAccessResult

from drivers.dlms.server.errors import AccessFailure

__all__ = ["AccessFailure", "CosemObjectModel", "DataAccessResult", "ObjectInfo", "Selection"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Selective access of a GET: the access selector and its parameters (one decoded A-XDR
    value, read with the accessors of `drivers.dlms.server.values`)."""

    selector: int
    params: Any


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as the association's object_list describes it (access rights per attribute
    and method are the server's to grant, from these and the association's policy)."""

    class_id: int
    version: int
    logical_name: bytes
    attributes: tuple[int, ...]
    secret: frozenset[int] = frozenset()  # never readable
    writable: frozenset[int] = frozenset()
    selective: frozenset[int] = frozenset()  # attributes that take selective access
    methods: tuple[int, ...] = ()


class CosemObjectModel(Protocol):
    """The COSEM objects of one logical device."""

    @property
    def name(self) -> str:
        """The device's name for logs (a meter id)."""
        ...

    def get(self, class_id: int, obis: str, attribute: int, selection: Selection | None) -> bytes:
        """The encoded value of an attribute; AccessFailure when it cannot be read."""
        ...

    def set(self, class_id: int, obis: str, attribute: int, value: bytes) -> None:
        """Write an encoded value; AccessFailure (object-undefined, read-write-denied,
        type-unmatched...) when refused."""
        ...

    def action(self, class_id: int, obis: str, method: int, params: bytes | None) -> None:
        """Invoke a method with its encoded parameters, if any; AccessFailure when refused."""
        ...

    def object_list(self) -> Iterable[ObjectInfo]:
        """Every object but the association, in object_list order."""
        ...

"""The server's internal refusal: becomes a Data-Access-Result on the wire, never escapes."""

from __future__ import annotations

from dlms_cosem.enumerations import DataAccessResult


class AccessFailure(Exception):
    """An attribute or method request the server refuses with `result`."""

    def __init__(self, result: DataAccessResult, why: str = "") -> None:
        self.result = result
        super().__init__(f"{result.name.lower()}: {why}" if why else result.name.lower())

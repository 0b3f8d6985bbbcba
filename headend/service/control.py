"""The control socket of a running `headend run`: a Unix socket speaking JSON lines.

`headend status` asks it for the service's state, `headend read --config` sends on-demand reads
and `headend command` sends commands through it, so they use the service's channels (turns,
breakers, the priority lane) instead of opening sessions of their own beside it. One request per
connection: a JSON object with an `op` ("status", "read", "command" or "demand_response") on one
line, answered by one JSON line (extensions add ops of their own: billing's `pay`).
A command is answered when it is final: `{"ok": true,
"command": <record>}`. A demand-response version (`headend dr`: `{"op": "demand_response",
"event": {...}, "requester": ..., "reason": ...}`) is answered once stored and handed to the load
manager: `{"ok": true, "event": <stored version>}`; a refusal is `{"ok": false, "error": ...}`,
with `"store_failed": true` when the store, not the request, was at fault.
The socket file is created with mode 0600 (only the user running the service may talk to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from headend.commands.model import CommandRecord, CommandRequest
from headend.config.load import DemandResponseEvent
from headend.service.demand_response import DemandResponseRequest
from headend.service.requests import ReadRequest, ReadResult
from headend.store.base import StoreError

LOG = logging.getLogger("headend.service")

MAX_REQUEST_BYTES = 4 * 1024 * 1024

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]
ReadHandler = Callable[[ReadRequest], Awaitable[ReadResult]]
CommandHandler = Callable[[CommandRequest], Awaitable[CommandRecord]]
"""Runs a command to its final state; raises ValueError for a request it refuses."""
DemandResponseHandler = Callable[[DemandResponseRequest], Awaitable[DemandResponseEvent]]
"""Stores a demand-response version and applies it; ValueError for one it refuses."""


class ControlServer:
    def __init__(
        self,
        path: Path,
        status: StatusProvider,
        read: ReadHandler,
        command: CommandHandler | None = None,
        demand_response: DemandResponseHandler | None = None,
    ) -> None:
        self.extra_ops: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {}
        self.path = path
        self._status = status
        self._read = read
        self._command = command
        self._demand_response = demand_response
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if await _answers(self.path):
                raise RuntimeError(f"another head-end is running on control socket {self.path}")
            self.path.unlink()  # left behind by a head-end that was killed
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            answer = await self._answer(line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            LOG.warning("control socket: dropped a request: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object"}
        op = request.get("op")
        if op == "status":
            return {"ok": True, **(await self._status())}
        if op == "read":
            try:
                read = ReadRequest.model_validate(request)
            except ValidationError as exc:
                return {"ok": False, "error": _first_error(exc)}
            return (await self._read(read)).model_dump(mode="json")
        if op == "command" and self._command is not None:
            return await self._run_command(request)
        if op == "demand_response" and self._demand_response is not None:
            return await self._apply_demand_response(request)
        if isinstance(op, str) and op in self.extra_ops:
            return await self.extra_ops[op](request)
        known = ", ".join(["status", "read", "command", "demand_response", *self.extra_ops])
        return {"ok": False, "error": f"unknown op {op!r} ({known})"}

    async def _run_command(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._command is not None
        fields = {key: value for key, value in request.items() if key != "op"}
        try:
            command = CommandRequest.model_validate(fields)
        except ValidationError as exc:
            return {"ok": False, "error": _first_error(exc)}
        try:
            record = await self._command(command)
        except ValueError as exc:  # an unknown meter or group
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "command": record.model_dump(mode="json")}

    async def _apply_demand_response(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._demand_response is not None
        fields = {key: value for key, value in request.items() if key != "op"}
        try:
            wanted = DemandResponseRequest.model_validate(fields)
        except ValidationError as exc:
            return {"ok": False, "error": _first_error(exc)}
        try:
            stored = await self._demand_response(wanted)
        except ValueError as exc:  # an unknown target, a stale version
            return {"ok": False, "error": str(exc)}
        except StoreError as exc:
            return {"ok": False, "error": str(exc), "store_failed": True}
        return {"ok": True, "event": stored.model_dump(mode="json")}


async def ask(
    path: Path, request: dict[str, Any], timeout_s: float | None = None
) -> dict[str, Any]:
    """Send one request to a running service; `ConnectionError` if none listens there."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 30)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ConnectionError(f"no head-end service on {path}") from exc
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if not line:
        raise ConnectionError(f"the head-end service on {path} closed without answering")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def _answers(path: Path) -> bool:
    try:
        await ask(path, {"op": "status"}, timeout_s=5.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        return False
    return True


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    return f"{where}: {first['msg']}"

"""A real Gurux DLMS/COSEM server (gurux-dlms, GPLv2: test-only) as an independent peer.

The meter is built from Gurux's own classes (`GXDLMSSecureServer`, `GXDLMSRegister`,
`GXDLMSClock`, `GXDLMSProfileGeneric`, ...) and fed bytes with `handleRequest`, as Gurux's example
servers do. A plain threaded socket loop on 127.0.0.1 carries them (wrapper or HDLC over TCP);
every connection gets a fresh server object, as a meter starts each connection afresh.

Gurux's Python server has a few glue gaps of its own, filled here so that what we test is its
encoding, not them: `GXDLMSSecureServer` stores its cipher under a name the rest of the library
never reads (`settings.ciphering` instead of `settings.cipher`), the command handler calls
`notifyRead`, `notifyConnected`, `getTransaction`/`setTransaction` that the server class lacks
(and `setReply`/`getConnectionInfo`... that `GXServerReply` lacks),
hands `list(ValueEventArgs)` to `onPreAction` (so the event is made iterable), recurses for
ever in the `maxReceivePDUSize` setter (so `settings.maxServerPDUSize` is set instead) and would
append the whole object collection to the association as one item (so it is listed first).
"""

from __future__ import annotations

import builtins
import contextlib
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gurux_dlms import (
    GXByteBuffer,
    GXDateTime,
    GXDLMSLNParameters,
    GXDLMSSettings,
    GXServerReply,
    ValueEventArgs,
)
from gurux_dlms.enums import (
    AccessMode,
    Authentication,
    Conformance,
    DataType,
    ErrorCode,
    InterfaceType,
    MethodAccessMode,
    ObjectType,
    Security,
    SourceDiagnostic,
)
from gurux_dlms.GXCiphering import GXCiphering
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.internal._GXDataInfo import _GXDataInfo
from gurux_dlms.objects import GXDLMSAssociationLogicalName
from gurux_dlms.secure import GXDLMSSecureServer

GET_REQUEST = 0xC0


class _Reply(GXServerReply):  # type: ignore[misc]
    """GXServerReply with the accessors GXDLMSServer.handleRequest calls on it."""

    def setReply(self, value: Any) -> None:
        self.reply = value

    def getConnectionInfo(self) -> Any:
        return self.connectionInfo

    def getCount(self) -> int:
        return int(self.count)

    def setCount(self, value: int) -> None:
        self.count = value


class _ReplyBuffer(GXByteBuffer):  # type: ignore[misc]
    """The server's reply buffer. `_GXAPDU.generateAARE` writes the responding-AP-title (the
    meter's system title, needed for HLS-GMAC and ciphering) as `A4 <n> 04` and then calls
    `setUInt8()` with no value: the octet string's length is missing and the tag's length is two
    short. Here the missing length is written and the tag's length corrected (as Gurux's C#
    and Java servers write it: `A4 <n+2> 04 <n> title`)."""

    def setUInt8(self, item: Any = None, index: Any = None) -> None:
        if item is None and index is None:
            title_length = self._data[self.size - 2]
            self._data[self.size - 2] = title_length + 2
            item = title_length
        super().setUInt8(item, index)


def _repair_challenge_length(reply: Any) -> None:
    """`generateAARE` writes the responding-authentication-value (the meter's HLS challenge) as
    `AA <n> 80 <n> challenge`, two short; Gurux's C# and Java servers write `AA <n+2> 80 <n>`."""
    data = reply._data
    pos = 3 if bytes(data[0:3]) == b"\xe6\xe7\x00" else 0
    if reply.size < pos + 2 or data[pos] != 0x61:
        return
    pos += 2
    while pos + 1 < reply.size:
        tag, length = data[pos], data[pos + 1]
        if tag == 0xAA and data[pos + 2] == 0x80 and data[pos + 3] == length:
            length += 2
            data[pos + 1] = length
        pos += 2 + length


class _NegotiatedHdlc:
    """What `handleSnrmRequest` reads from `server.hdlc` when it has no HDLC setup object: the
    values just negotiated in `settings.hdlc`. Falsy, so the setup-object branches are skipped."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings.hdlc, name)


def _iterate(self: Any) -> Any:
    return iter([self])


def _int_or_bytes(value: Any, *args: Any) -> Any:
    # the association's reply_to_HLS does `GXByteBuffer(int(e.parameters))` (a C# cast kept in
    # the port): the parameters are bytes, and int() of bytes raises
    if isinstance(value, bytes | bytearray):
        return value
    return builtins.int(value, *args)


sys.modules[GXDLMSAssociationLogicalName.__module__].int = _int_or_bytes  # type: ignore[attr-defined]
GXDLMSAssociationLogicalName.getAssociationStatus = lambda self: self.associationStatus  # type: ignore[attr-defined]
GXDLMSSettings.setConnected = lambda self, value: setattr(self, "connected", value)  # type: ignore[attr-defined]
ValueEventArgs.__iter__ = _iterate  # type: ignore[attr-defined]
ValueEventArgs.getRowEndIndex = lambda self: self.rowEndIndex  # type: ignore[attr-defined]
GXDLMSLNParameters.isMultipleBlocks = lambda self: self.multipleBlocks  # type: ignore[attr-defined]


@dataclass
class GuruxMeterConfig:
    """What a Gurux meter is: its interface, security and objects (built per connection)."""

    objects: Callable[[], list[Any]]
    interface: InterfaceType = InterfaceType.WRAPPER
    auth: Authentication = Authentication.NONE
    password: bytes = b""
    system_title: bytes = b"GRX00001"
    block_key: bytes = b""
    auth_key: bytes = b""
    conformance: int | None = None
    max_pdu: int = 1024
    # per-connection hook after each request, e.g. to mutate a Disconnect Control object
    on_action: Callable[[Any], Any] | None = None
    # what each connection's server saw, for assertions
    log: list[str] = field(default_factory=list)
    # GET requests served, by kind ("get", "get-next", "get-list"), over all connections
    requests: Counter[str] = field(default_factory=Counter)
    # exceptions inside Gurux's own handlers (it answers them with hardware-fault)
    faults: list[str] = field(default_factory=list)


class GuruxMeter(GXDLMSSecureServer):  # type: ignore[misc]
    """One connection's Gurux server, configured as a typical LN-referencing meter."""

    def __init__(self, config: GuruxMeterConfig) -> None:
        association = GXDLMSAssociationLogicalName()
        association.authenticationMechanismName.mechanismId = config.auth
        if config.auth == Authentication.LOW:
            association.secret = config.password
        super().__init__(association, config.interface)
        self.config = config
        self.transaction = None
        self.hdlc = _NegotiatedHdlc(self.settings)
        self.replyData = _ReplyBuffer()
        self._buffers: dict[str, list[Any]] = {}
        if config.block_key:
            cipher = GXCiphering(config.system_title)
            cipher.security = Security.AUTHENTICATION_ENCRYPTION
            cipher.blockCipherKey = bytearray(config.block_key)
            cipher.authenticationKey = bytearray(config.auth_key)
            self.settings.cipher = cipher
        else:
            self.settings.cipher = None
        self.settings.maxServerPDUSize = config.max_pdu
        if config.conformance is not None:
            self.conformance = Conformance(config.conformance)
        self.items.append(association)
        for obj in config.objects():
            self.items.append(obj)
        # initialize() would append the whole collection as one item (a TypeError): list them
        for obj in self.items:
            association.objectList.append(obj)
        self.initialize()

    def handleAarqRequest(self, data: Any, connectionInfo: Any) -> None:
        super().handleAarqRequest(data, connectionInfo)
        _repair_challenge_length(self.replyData)
        # the ciphered initiate-response used the counter without moving it on (cipher0 does
        # for every other APDU): the next reply would reuse the GCM nonce
        cipher = self.settings.cipher
        if cipher is not None and cipher.isCiphered():
            cipher.invocationCounter += 1

    def handleCommand(self, cmd: Any, data: Any, sr: Any) -> Any:
        # Gurux turns any exception into a hardware-fault reply: keep it for the test to see
        if int(cmd) == GET_REQUEST and data is not None and data.size > data.position:
            kind = {1: "get", 2: "get-next", 3: "get-list"}.get(data.getUInt8(data.position))
            self.config.requests[kind or "get-other"] += 1
        try:
            return super().handleCommand(cmd, data, sr)
        except Exception as exc:
            self.config.faults.append(f"{type(exc).__name__}: {exc}")
            raise

    # -- glue the command handler expects -------------------------------------------------------

    def getTransaction(self) -> Any:
        return self.transaction

    def setTransaction(self, value: Any) -> None:
        self.transaction = value

    def notifyRead(self) -> None:
        return None

    def notifyConnected(self, info: Any) -> None:
        return None

    # -- GXDLMSServer callbacks ------------------------------------------------------------------

    def isTarget(self, serverAddress: int, clientAddress: int) -> bool:
        return True

    def onValidateAuthentication(self, authentication: int, password: Any) -> int:
        self.config.log.append(f"auth {int(authentication)}")
        if authentication != self.config.auth:
            return SourceDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
        if authentication == Authentication.LOW and bytes(password or b"") != self.config.password:
            return SourceDiagnostic.AUTHENTICATION_FAILURE
        return SourceDiagnostic.NONE

    def onGetAttributeAccess(self, arg: Any) -> int:
        # a plain GET never reaches onPreRead (Gurux calls a `notifyRead()` without the event),
        # and this is the last hook that sees the event before the value is encoded
        if arg.target is None:  # an object this meter does not have (GET-with-list asks too)
            return AccessMode.NO_ACCESS
        if arg.target.objectType == ObjectType.PROFILE_GENERIC and arg.index == 2:
            self._select_rows(arg)
        return AccessMode.READ_WRITE

    def onGetMethodAccess(self, arg: Any) -> int:
        return MethodAccessMode.ACCESS

    def onPreGet(self, args: Any) -> None:
        return None

    def onPostGet(self, args: Any) -> None:
        return None

    def onFindObject(self, objectType: Any, sn: int, ln: str) -> Any:
        return None

    def onPreRead(self, args: Any) -> None:
        for e in args:
            if e.target is None:
                # GET-with-list of an object this meter does not have: Gurux's Python list
                # handler writes the item's error code where the Get-Data-Result choice goes,
                # then encodes the missing object's value (a hardware-fault byte). Hand it the
                # two bytes a meter sends: choice 1 (data-access-result), object-undefined.
                code = int(e.error) or int(ErrorCode.UNDEFINED_OBJECT)
                e.error, e.handled, e.byteArray, e.value = 1, True, True, bytes([code])
                continue
            if e.target.objectType == ObjectType.PROFILE_GENERIC and e.index == 2:
                self._select_rows(e)

    def _select_rows(self, e: Any) -> None:
        """Range reads (selector 1): Gurux's own filter compares a datetime with 0 and raises,
        so select the rows here, as Gurux's example servers do, and let Gurux encode them."""
        profile = e.target
        full = self._buffers.setdefault(profile.logicalName, list(profile.buffer))
        profile.buffer = full
        if e.selector != 1 or e.rowEndIndex != 0:
            return
        start, end = (_as_datetime(self.settings, raw) for raw in e.parameters[1:3])
        profile.buffer = [
            row for row in full if start <= _as_datetime(self.settings, row[0]) <= end
        ]
        e.selector = 0

    def onPostRead(self, args: Any = None) -> None:
        return None

    def onPreWrite(self, args: Any) -> None:
        for e in args:
            self.config.log.append(f"write {e.target.logicalName}:{e.index}")

    def onPostWrite(self, args: Any) -> None:
        return None

    def onPreAction(self, args: Any) -> None:
        for e in args:
            if e.target.objectType == ObjectType.DISCONNECT_CONTROL:
                # Gurux's class 70 has no methods of its own: do what a meter does
                e.target.outputState = e.index == 2
                e.handled = True
                e.value = 0
                self.config.log.append(f"action {e.target.logicalName}:{e.index}")

    def onPostAction(self, args: Any) -> None:
        return None

    def onConnected(self, connectionInfo: Any) -> None:
        return None

    def onInvalidConnection(self, connectionInfo: Any) -> None:
        return None

    def onDisconnected(self, connectionInfo: Any) -> None:
        return None


class GuruxTcpServer:
    """Threaded TCP loop on 127.0.0.1: each connection gets its own `GuruxMeter`."""

    def __init__(self, config: GuruxMeterConfig) -> None:
        self.config = config
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        # close() does not wake a thread blocked in accept(): poll instead
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self.errors: list[BaseException] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            meter = GuruxMeter(self.config)
            while not self._stop.is_set():
                data = conn.recv(4096)
                if not data:
                    return
                reply = _Reply(bytearray(data))
                meter.handleRequest(reply)
                if reply.reply:
                    conn.sendall(bytes(reply.reply))
        except OSError:
            return
        except BaseException as exc:  # reported to the test, not swallowed
            self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        self._accept.join(2)
        for thread in self._threads:
            thread.join(2)


def _as_datetime(settings: Any, raw: Any) -> datetime:
    if isinstance(raw, GXDateTime):
        return raw.value  # type: ignore[no-any-return]
    info = _GXDataInfo()
    info.type_ = DataType.DATETIME
    value = _GXCommon.getData(settings, GXByteBuffer(raw), info)
    return getattr(value, "value", value)  # type: ignore[no-any-return]


def gx_time(when: datetime) -> GXDateTime:
    return GXDateTime(when)


__all__ = ["DataType", "GuruxMeter", "GuruxMeterConfig", "GuruxTcpServer", "gx_time"]

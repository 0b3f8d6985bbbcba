"""Gurux's `GXDLMSSecureClient` driven over a plain blocking socket (run it in a thread)."""

from __future__ import annotations

import socket
from typing import Any

from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.secure import GXDLMSSecureClient

TIMEOUT_S = 5.0


class GuruxClient:
    def __init__(
        self,
        port: int,
        *,
        hdlc: bool,
        client_address: int,
        server_address: int = 1,
        auth: Authentication = Authentication.NONE,
        password: bytes | None = None,
        keys: tuple[bytes, bytes, bytes] | None = None,  # system title, block key, auth key
    ) -> None:
        interface = InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER
        self.client = GXDLMSSecureClient(
            True, client_address, server_address, auth, password, interface
        )
        if keys is not None:
            title, block_key, auth_key = keys
            cipher = self.client.ciphering
            cipher.systemTitle = bytearray(title)
            cipher.blockCipherKey = bytearray(block_key)
            cipher.authenticationKey = bytearray(auth_key)
            cipher.security = Security.AUTHENTICATION_ENCRYPTION
        self.hdlc = hdlc
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)

    def _exchange(self, frame: Any, reply: GXReplyData) -> None:
        self.sock.sendall(bytes(frame))
        buffer = GXByteBuffer()
        while True:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("peer closed the connection")
            buffer.set(data)
            notify = GXReplyData()
            if self.client.getData(buffer, reply, notify) and reply.isComplete():
                return

    def transact(self, frames: Any) -> GXReplyData:
        """Send each frame of a request, then follow the reply's blocks to the end."""
        reply = GXReplyData()
        for frame in frames:
            reply.clear()
            self._exchange(frame, reply)
        while reply.isMoreData():
            frame = (
                self.client.receiverReady(reply.moreData)
                if self.hdlc
                else self.client.receiverReady(reply)
            )
            self._exchange(frame, reply)
        return reply

    def open(self) -> None:
        if self.hdlc:
            self.client.parseUAResponse(self.transact([self.client.snrmRequest()]).data)
        self.client.parseAareResponse(self.transact(self.client.aarqRequest()).data)
        if self.client.authentication > Authentication.LOW:
            frames = self.client.getApplicationAssociationRequest()
            self.client.parseApplicationAssociationResponse(self.transact(frames).data)

    def read(self, obj: Any, attribute: int) -> Any:
        reply = self.transact(self.client.read(obj, attribute))
        return self.client.updateValue(obj, attribute, reply.value)

    def rows_by_range(self, profile: Any, start: Any, end: Any) -> list[Any]:
        reply = self.transact(self.client.readRowsByRange(profile, start, end))
        return list(self.client.updateValue(profile, 2, reply.value) or [])

    def method(self, obj: Any, index: int, value: Any, kind: Any) -> GXReplyData:
        return self.transact(self.client.method(obj, index, value, kind))

    def close(self) -> None:
        try:
            self.transact(self.client.releaseRequest())
            if self.hdlc:
                self.transact([self.client.disconnectRequest()])
        finally:
            self.sock.close()

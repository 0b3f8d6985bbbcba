"""IEC 62056-47 wrapper framing for DLMS over TCP: sans-IO codec (`codec`), client links
(`client`: `WrapperLink` on a byte stream, `WrapperTcpLink` on an asyncio Protocol, which the
session uses) and the server side for simulators (`server`)."""

from drivers.dlms.wrapper.client import WrapperLink, WrapperTcpLink
from drivers.dlms.wrapper.codec import (
    HEADER,
    HEADER_SIZE,
    WRAPPER_VERSION,
    WrapperDecoder,
    WrapperFrame,
    encode_wrapper,
)
from drivers.dlms.wrapper.server import WrapperServerProtocol, serve_wrapper

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "WRAPPER_VERSION",
    "WrapperDecoder",
    "WrapperFrame",
    "WrapperLink",
    "WrapperServerProtocol",
    "WrapperTcpLink",
    "encode_wrapper",
    "serve_wrapper",
]

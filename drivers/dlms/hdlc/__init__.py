"""DLMS HDLC framing (IEC 62056-46): sans-IO frame codec, client and server state machines, and
the asyncio client link / server loop built on them."""

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.client import ClientState, ClientStep, HdlcClient
from drivers.dlms.hdlc.decoder import HdlcFrameDecoder
from drivers.dlms.hdlc.frames import FrameKind, HdlcFrame, parse_frame
from drivers.dlms.hdlc.link import HdlcLink, serve_hdlc
from drivers.dlms.hdlc.params import HdlcParameters
from drivers.dlms.hdlc.server import HdlcServer

__all__ = [
    "ClientState",
    "ClientStep",
    "FrameKind",
    "HdlcAddress",
    "HdlcClient",
    "HdlcFrame",
    "HdlcFrameDecoder",
    "HdlcLink",
    "HdlcParameters",
    "HdlcServer",
    "parse_frame",
    "serve_hdlc",
]

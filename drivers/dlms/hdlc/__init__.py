"""DLMS HDLC framing (IEC 62056-46): sans-IO frame codec, client and server state machines, and
the asyncio client link / server loop built on them.

Client (a DLMS session over a serial port or a TCP transparent channel)::

    link = HdlcLink(stream, client_address=16, server_logical=1, server_physical=17)
    await link.open(deadline)                    # SNRM/UA, negotiates max info length
    reply = await link.exchange(apdu, deadline)  # segmentation both ways is done here
    await link.close()                           # DISC, then the stream; never raises

Server (a simulator or concentrator, one call per TCP connection or pty line)::

    await serve_hdlc(reader, writer, handler, on_disconnect, serves=lambda a: a.physical in mine)

Server addresses are written in the shortest form that holds them (1, 2 or 4 bytes); replies
use whatever form the client used.
"""

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

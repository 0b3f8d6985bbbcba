"""A one-shot HLS-GMAC ciphered read, run as a separate process by the counter restart test.

    python -m tests.dlms_session.counter_client PORT COUNTER_DB

Prints one JSON line: {"ok": true, "counter": N} or {"ok": false, "error": kind}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from drivers.contract import Point
from drivers.dlms.session import open_dlms_session
from drivers.dlms.settings import DlmsFraming, DlmsSettings
from drivers.errors import DriverError
from drivers.transport.settings import TcpLink

from .conftest import security
from .sqlite_counters import SqliteCounters


async def main(port: int, db: str) -> dict[str, object]:
    settings = DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=TcpLink(host="127.0.0.1", port=port),
        timeout_s=3.0,
        **security("hls"),
    )
    store = SqliteCounters(db)
    try:
        async with await open_dlms_session(settings, meter_id="m1", counters=store) as session:
            await session.read([Point(obis="1.0.1.8.0.255")])
    except DriverError as err:
        return {"ok": False, "error": err.kind, "detail": str(err)}
    return {"ok": True, "counter": await store.load_counter(settings.counter_key("m1"))}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), sys.argv[2]))))

"""HLS-GMAC ciphered reads, run as a separate process by the counter tests.

    python -m tests.dlms_session.counter_client PORT STORE_DB [READS [--wait]]

Reads the meter READS times (default 1), one session each, with invocation counters in the real
`SqliteStore` at STORE_DB. With --wait, prints "ready" and waits for a line on stdin first, so two
processes can start together. Last line, JSON: {"results": [{"ok": true} | {"ok": false,
"error": kind, "detail": text}, ...], "counter": the stored client counter mark}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from drivers.contract import Point
from drivers.dlms.client.session import open_dlms_session
from drivers.dlms.settings import DlmsFraming, DlmsSettings
from drivers.errors import DriverError
from drivers.transport.settings import TcpLink
from headend.store import SqliteStore

from .conftest import security


async def main(port: int, db: str, reads: int, wait: bool) -> dict[str, object]:
    settings = DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=TcpLink(host="127.0.0.1", port=port),
        timeout_s=5.0,
        **security("hls"),
    )
    results: list[dict[str, object]] = []
    async with await SqliteStore.open(db) as store:
        if wait:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # the starting gun
        for _ in range(reads):
            try:
                async with await open_dlms_session(
                    settings, meter_id="m1", counters=store
                ) as session:
                    await session.read([Point(obis="1.0.1.8.0.255")])
            except DriverError as err:
                results.append({"ok": False, "error": err.kind, "detail": str(err)})
            else:
                results.append({"ok": True})
        counter = await store.load_counter(settings.counter_key("m1"))
    return {"results": results, "counter": counter}


if __name__ == "__main__":
    port, db = int(sys.argv[1]), sys.argv[2]
    reads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    wait = sys.argv[4:] == ["--wait"]
    print(json.dumps(asyncio.run(main(port, db, reads, wait))))

"""DLMS/COSEM driver. Every import of `dlms_cosem` (BSL-1.1 licensed) stays inside this package,
so that the codec can be swapped without touching the rest of the head-end.

Layout (which side uses each part):
- settings.py   both: `DlmsSettings` (auth, framing, addresses, keys) for the client and config.
- url.py        client/config: `dlms+tcp://`, `dlms+hdlc+tcp://`, `dlms+serial://` URLs to settings.
- link.py       both: the APDU link contract (`ApduLink`, `ApduHandler`, `ServerAddress`).
- hdlc/         both: HDLC framing (IEC 62056-46), client and server state machines, `HdlcLink`.
- wrapper/      both: IEC 62056-47 wrapper framing over TCP, client link and server protocol.
- client/       the head-end's async client (a `MeterSession`):
    session.py       `DlmsSession`, `open_dlms_session` (named by drivers/registry.py).
    connection.py    the sans-IO dlms-cosem connection: security, conformance, ciphering.
    exchange.py      one request/reply on the wire: deadlines, data blocks, glo replies.
    get_many.py      reading many attributes: GET-with-list in batches or one GET each.
    list_replies.py  parser of Get-Response-With-List replies (dlms-cosem's cannot be used).
    reading.py       `read_points`: registers, scalers/units, clock status to Readings.
    profile.py       `read_profile`: profile generic buffers by range to Readings.
    commands.py      `execute`: disconnect control, limiter, clock set.
    counters.py      invocation counters reserved in blocks from a `CounterStore`.
    meter_cache.py   per-meter caches (scalers, capture objects) with refresh.
    faults.py        dlms-cosem exceptions and meter refusals to typed driver errors.
    axdr.py          our A-XDR decoder/encoder (float32, compact arrays).
    cosem_values.py  COSEM date-times, scaler/unit, values to Decimal.
    descriptors.py   cached dlms-cosem attribute and method descriptors.
    objects.py       which interface class an OBIS code names; well-known objects.
    baseline.py      the blocking dlms-cosem `DlmsClient`, for comparison in bench/ only.
- server/       the sans-IO COSEM server (used by the simulators), knowing no meter:
    server.py        `CosemServer` (an `ApduHandler`), `CosemDevice` (objects, secrets, counters).
    model.py         `CosemObjectModel`: the objects a device serves (get/set/action, object_list).
    association.py   AARQ/AARE, association policies, HLS challenge state.
    security.py      keys, ciphering, invocation counters, HLS-GMAC of the server side.
    services.py      GET (normal, list, blocks), SET, ACTION, the association object (0.0.40.0.0).
    apdus.py         request parsing and reply encoding of xDLMS APDUs.
    values.py        A-XDR values to send and accessors for received ones (for object models).
    errors.py        `AccessFailure`: a refusal that becomes a Data-Access-Result.
The simulated meter's object table (a `CosemObjectModel`) is with the simulator, in sim/cosem.
"""

"""The blocking dlms-cosem `DlmsClient`, kept only as the benchmark's point of comparison.

The service never uses it (no async API; it spins when a meter closes the socket). It lives here
because every import of dlms_cosem stays inside drivers/dlms. One call = one full session over
the wrapper: connect, associate (public client, no security), GET value and scaler of each
register, and optionally a load profile's capture objects and its buffer over a time range (a
RangeDescriptor on the clock column), release, disconnect. Blocking: run it in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dlms_cosem import enumerations
from dlms_cosem.client import DlmsClient
from dlms_cosem.cosem import CosemAttribute, Obis
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.security import NoSecurityAuthentication
from dlms_cosem.utils import parse_as_dlms_data

from drivers.dlms.client.objects import default_class
from drivers.obis import parse_obis

CLOCK = CosemAttribute(enumerations.CosemInterface.CLOCK, Obis(0, 0, 1, 0, 0, 255), 2)


def blocking_read(
    host: str,
    port: int,
    obis_codes: list[str],
    timeout_s: int = 10,
    *,
    profile: tuple[str, datetime, datetime] | None = None,
) -> list[Any]:
    """Read the value (and scaler/unit of registers) of each OBIS code, then the profile's
    capture objects and its rows between two instants (clock-restricted); raw decoded values."""
    transport = TcpTransport(
        client_logical_address=16,
        server_logical_address=1,
        io=BlockingTcpIO(host=host, port=port, timeout=timeout_s),
    )
    client = DlmsClient(transport=transport, authentication=NoSecurityAuthentication())
    values: list[Any] = []
    with client.session():
        for obis in obis_codes:
            class_id = default_class(obis)
            interface = enumerations.CosemInterface(class_id)
            instance = Obis(*parse_obis(obis))
            values.append(parse_as_dlms_data(client.get(CosemAttribute(interface, instance, 2))))
            if class_id == 3:
                scaler = client.get(CosemAttribute(interface, instance, 3))
                values.append(parse_as_dlms_data(scaler))
        if profile is not None:
            obis, start, end = profile
            instance = Obis(*parse_obis(obis))
            generic = enumerations.CosemInterface.PROFILE_GENERIC
            columns = client.get(CosemAttribute(generic, instance, 3))
            values.append(parse_as_dlms_data(columns))
            window = RangeDescriptor(
                restricting_object=CaptureObject(cosem_attribute=CLOCK, data_index=0),
                from_value=start,
                to_value=end,
            )
            rows = client.get(CosemAttribute(generic, instance, 2), access_descriptor=window)
            values.append(parse_as_dlms_data(rows))
    return values

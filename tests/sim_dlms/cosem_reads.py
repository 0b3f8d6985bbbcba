"""Blocking helpers that drive dlms-cosem's `DlmsClient` against the simulator (run in a thread)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dlms_cosem import cosem, dlms_data, utils
from dlms_cosem import enumerations as enums
from dlms_cosem.client import DlmsClient
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.time import datetime_to_bytes

CLOCK = cosem.CosemAttribute(enums.CosemInterface.CLOCK, cosem.Obis(0, 0, 1, 0, 0), 2)
LOAD_PROFILE = cosem.Obis(1, 0, 99, 1, 0)
DISCONNECTOR = cosem.Obis(0, 0, 96, 3, 10)
LIMITER = cosem.Obis(0, 0, 17, 0, 0)


def obis(text: str) -> cosem.Obis:
    return cosem.Obis(*(int(p) for p in text.split(".")))


def register(text: str, attribute: int = 2) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(enums.CosemInterface.REGISTER, obis(text), attribute)


def get_value(client: DlmsClient, attribute: cosem.CosemAttribute) -> Any:
    return utils.parse_as_dlms_data(client.get(attribute))


def read_register(client: DlmsClient, text: str) -> tuple[int, int, int]:
    """(raw value, scaler, unit code)."""
    value = get_value(client, register(text))
    scaler, unit = get_value(client, register(text, 3))
    return value, scaler, unit


def profile_range(client: DlmsClient, start: datetime, end: datetime) -> list[list[Any]]:
    descriptor = RangeDescriptor(
        restricting_object=CaptureObject(CLOCK),
        from_value=start,
        to_value=end,
    )
    raw = client.get(
        cosem.CosemAttribute(enums.CosemInterface.PROFILE_GENERIC, LOAD_PROFILE, 2),
        access_descriptor=descriptor,
    )
    rows = utils.parse_as_dlms_data(raw)
    return [] if rows is None else rows


def set_clock(client: DlmsClient, when: datetime) -> Any:
    data = dlms_data.OctetStringData(datetime_to_bytes(when)).to_bytes()
    return client.set(CLOCK, data)


def set_limit(client: DlmsClient, watts: int, attribute: int = 4) -> Any:
    data = dlms_data.DoubleLongUnsignedData(watts).to_bytes()
    target = cosem.CosemAttribute(enums.CosemInterface.LIMITER, LIMITER, attribute)
    return client.set(target, data)


def disconnector(client: DlmsClient, method: int) -> Any:
    target = cosem.CosemMethod(enums.CosemInterface.DISCONNECT_CONTROL, DISCONNECTOR, method)
    return client.action(target, dlms_data.IntegerData(0).to_bytes())

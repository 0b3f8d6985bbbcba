"""dlms-cosem's attribute and method descriptors, built from a class id, an OBIS string and an
attribute or method index (what our points and commands name)."""

from __future__ import annotations

import functools

from dlms_cosem import enumerations as dlms_enums
from dlms_cosem.cosem import CosemAttribute, CosemMethod, Obis

from drivers.errors import Unsupported
from drivers.obis import parse_obis


@functools.lru_cache(maxsize=4096)
def obis_code(obis: str) -> Obis:
    # parsed once per code: a session names the same few dozen objects over and over
    return Obis(*parse_obis(obis))


def interface(class_id: int, obis: str) -> dlms_enums.CosemInterface:
    try:
        return dlms_enums.CosemInterface(class_id)
    except ValueError:
        raise Unsupported(f"interface class {class_id} unknown to the codec", obis=obis) from None


def cosem_attribute(class_id: int, obis: str, attribute: int) -> CosemAttribute:
    return CosemAttribute(interface(class_id, obis), obis_code(obis), attribute)


def cosem_method(class_id: int, obis: str, method: int) -> CosemMethod:
    return CosemMethod(interface(class_id, obis), obis_code(obis), method)

"""A sans-IO COSEM server for simulated meters, built on dlms-cosem's APDU classes.

`CosemServer(resolve).handle(address, apdu)` is an `ApduHandler` (drivers.dlms.link): it
answers AARQ/RLRQ, GET (normal, with list, with blocks), SET and ACTION for the objects in
`objects`, per association policy (public 16, LLS 17, HLS-GMAC 1 with global ciphering).
Every import of dlms_cosem stays inside drivers/dlms/ (licence, see README).
"""

from drivers.dlms.server.security import DlmsMeterSecrets
from drivers.dlms.server.server import CosemDevice, CosemServer, DeviceResolver

__all__ = ["CosemDevice", "CosemServer", "DeviceResolver", "DlmsMeterSecrets"]

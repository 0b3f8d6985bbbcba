"""A sans-IO COSEM server (used by the simulators), built on dlms-cosem's APDU classes.

`CosemServer(resolve).handle(address, apdu)` is an `ApduHandler` (drivers.dlms.link): it
answers AARQ/RLRQ, GET (normal, with list, with blocks), SET and ACTION, per association policy
(public 16, LLS 17, HLS-GMAC 1 with global ciphering), for the objects of each device's
`CosemObjectModel` (model.py); the simulated meter's objects live with the simulator (`sim/cosem`).
Every import of dlms_cosem stays inside drivers/dlms/ (licence, see README).
"""

from drivers.dlms.server.model import AccessFailure, CosemObjectModel, ObjectInfo, Selection
from drivers.dlms.server.security import DlmsMeterSecrets
from drivers.dlms.server.server import CosemDevice, CosemServer, DeviceResolver

__all__ = [
    "AccessFailure",
    "CosemDevice",
    "CosemObjectModel",
    "CosemServer",
    "DeviceResolver",
    "DlmsMeterSecrets",
    "ObjectInfo",
    "Selection",
]

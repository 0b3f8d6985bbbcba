"""DL/T 645-2007 meters (China, RS-485): sans-IO codec, driver and URL parsing.

Public API: `parse_url`, `Dlt645Settings`, `open_session`, `Dlt645Session`, `default_points`.
The codec (`frame`, `decoder`, `bcd`, `messages`, `identifiers`) does no I/O; `bus` and `session`
do the asyncio part. The simulator lives in `drivers.sim.dlt645_sim`.
"""

from drivers.dlt645.identifiers import default_points, supported_obis
from drivers.dlt645.session import Dlt645Session, open_session
from drivers.dlt645.settings import Dlt645Settings
from drivers.dlt645.url import parse_url

__all__ = [
    "Dlt645Session",
    "Dlt645Settings",
    "default_points",
    "open_session",
    "parse_url",
    "supported_obis",
]

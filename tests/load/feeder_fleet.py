"""The fleet file of one transformer feeder as the configuration tests write it: channel c1, the
feeder's own meter feeder-1 and three households h1..h3 behind it (DLMS meters), and the `[load]`
section over them, h2 a medical household. The load and the prepay configuration tests add what
is their own."""

from __future__ import annotations

from pathlib import Path

FEEDER_METERS = """
[[channels]]
id = "c1"
host = "127.0.0.1"
port = 4059
""" + "".join(
    f'\n[[meters]]\nid = "{meter}"\nprotocol = "dlms"\nchannel = "c1"\n'
    for meter in ("feeder-1", "h1", "h2", "h3")
)

# ends inside [load.households.h3], which each test fills in
FEEDER_LOAD = """
[load]
cycle = "PT1M"
lease = "PT5M"

[[load.feeders]]
id = "f1"
kind = "transformer"
capacity_kw = 10
margin = 0.05
meter = "feeder-1"
households = ["h1", "h2", "h3"]

[load.households.h2]
priority = "medical"

[load.households.h3]
"""


def fleet_file(tmp_path: Path, text: str) -> Path:
    """`text` as tmp_path/fleet.toml."""
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path

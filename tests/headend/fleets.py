"""Fleet files for tests: a small DLMS fleet with every security mode and failure mode."""

from __future__ import annotations

from pathlib import Path

AUTH_HEX = "000102030405060708090a0b0c0d0e0f"
BLOCK_HEX = "101112131415161718191a1b1c1d1e1f"
LLS_PASSWORD = "lls-pass-01"

FLEET = """
[site]
name = "test"
system_title = "4845414445303031"
keys_file = "keys.toml"

[reading]
retries = 1
backoff_s = 0.05

[simulation]
factor = 60.0
history = "PT3H"

[[channels]]
id = "gprs-ok"
host = "127.0.0.1"
port = 1

[[channels]]
id = "gprs-lls"
host = "127.0.0.1"
port = 1

[[channels]]
id = "gprs-silent"
host = "127.0.0.1"
port = 1

[[channels]]
id = "gprs-down"
host = "127.0.0.1"
port = 1

[[channels]]
id = "dc"
host = "127.0.0.1"
port = 1

[[meters]]
id = "w-ok"
protocol = "dlms"
channel = "gprs-ok"

[[meters]]
id = "w-lls"
protocol = "dlms"
channel = "gprs-lls"
auth = "low"
key = "lls"

[[meters]]
id = "w-silent"
protocol = "dlms"
channel = "gprs-silent"
timeout_s = 0.5

[[meters]]
id = "w-down"
protocol = "dlms"
channel = "gprs-down"
timeout_s = 1.0

[[meters]]
id = "h-hls"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 101
auth = "hls-gmac"
cipher = true
key = "hls"

[[meters]]
id = "h-none"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 102

[[meters]]
id = "h-closing"
protocol = "dlms"
channel = "dc"
framing = "hdlc"
server_physical = 103

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255", "0.0.1.0.0.255"]

[[plans]]
name = "full"
points = ["1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255", "0.0.1.0.0.255"]
profile = "1.0.99.1.0.255"
profile_window = "PT1H"
"""

KEYS = f"""
[keys.lls]
password = "{LLS_PASSWORD}"

[keys.hls]
auth_key = "{AUTH_HEX}"
block_key = "{BLOCK_HEX}"
"""


def write_fleet(directory: Path, fleet: str = FLEET, keys: str = KEYS) -> Path:
    path = directory / "fleet.toml"
    path.write_text(fleet)
    (directory / "keys.toml").write_text(keys)
    return path

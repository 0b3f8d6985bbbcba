"""`headend simulate` as a subprocess: a port already taken is a clear config error, exit 2."""

from __future__ import annotations

import socket

from tests.headend.subprocess_cli import headend

FLEET = """
[[channels]]
id = "gw"
host = "127.0.0.1"
port = {port}

[[meters]]
id = "m1"
protocol = "dlms"
channel = "gw"
"""


async def test_port_in_use_names_the_channel_and_exits_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "fleet.toml"
        config.write_text(FLEET.format(port=port))
        status, out, err = await headend("simulate", "--config", str(config))
    assert status == 2, (out, err)
    assert f"channels[0].port: cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err

"""Fleet files of the tests whose simulated meters listen on loopback: `[[channels]]` tables on
127.0.0.1 whose ports are the placeholders {p1}, {p2}, ..., and the file written with a free
port in each (the simulator then serves each meter on its channel's port)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import free_port


def loopback_channels(*ids: str) -> str:
    """One `[[channels]]` table per id, in order, on ports {p1}, {p2}, ..."""
    return "".join(
        f'\n[[channels]]\nid = "{channel}"\nhost = "127.0.0.1"\nport = {{p{i}}}\n'
        for i, channel in enumerate(ids, 1)
    )


def write_fleet_file(path: Path, text: str, **fields: object) -> Path:
    """`text` with `fields` and a free loopback port in each {pN}, written to `path`."""
    ports = {name: free_port() for name in set(re.findall(r"\{(p\d+)\}", text))}
    path.write_text(text.format(**fields, **ports))
    return path

"""Fleet files for the channel tests: HDLC concentrators with many meters, plus other channels."""

from __future__ import annotations

from pathlib import Path

from headend.config import HeadendConfig, load_config

HEAD = """
[site]
name = "channels"

[reading]
retries = {retries}
backoff_s = {backoff}
breaker_failures = 3
{reading}

[simulation]
factor = 0.0
history = "PT2H"

[[plans]]
name = "registers"
points = ["1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255"]

[[plans]]
name = "full"
points = ["1.0.1.8.0.255", "1.0.2.8.0.255"]
profile = "1.0.99.1.0.255"
profile_window = "PT1H"
"""


def concentrator(channel: str, prefix: str, count: int, *, timeout_s: float | None = None) -> str:
    """A TCP channel carrying `count` HDLC meters `<prefix>-1..` at physical 101, 102, ..."""
    text = f'\n[[channels]]\nid = "{channel}"\nhost = "127.0.0.1"\nport = 1\n'
    for i in range(1, count + 1):
        text += (
            f'\n[[meters]]\nid = "{prefix}-{i}"\nprotocol = "dlms"\nchannel = "{channel}"\n'
            f'framing = "hdlc"\nserver_physical = {100 + i}\n'
        )
        if timeout_s is not None:
            text += f"timeout_s = {timeout_s}\n"
    return text


def gprs(channel: str, meter: str) -> str:
    return (
        f'\n[[channels]]\nid = "{channel}"\nhost = "127.0.0.1"\nport = 1\n'
        f'\n[[meters]]\nid = "{meter}"\nprotocol = "dlms"\nchannel = "{channel}"\n'
    )


def fleet_config(
    directory: Path, *parts: str, retries: int = 2, backoff: float = 0.05, reading: str = ""
) -> HeadendConfig:
    """A fleet file of `parts` (channels, meters, segments); `reading` adds [reading] keys."""
    path = directory / "fleet.toml"
    head = HEAD.format(retries=retries, backoff=backoff, reading=reading)
    path.write_text(head + "".join(parts))
    return load_config(path, env={})


def with_port(config: HeadendConfig, channel_id: str, port: int) -> HeadendConfig:
    """The config with one channel pointed at another loopback port (a proxy, a dead peer)."""
    channels = [
        c.model_copy(update={"port": port}) if c.id == channel_id else c
        for c in config.fleet.channels
    ]
    fleet = config.fleet.model_copy(update={"channels": channels})
    return HeadendConfig(config.path, fleet, config.keys)

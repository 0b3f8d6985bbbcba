"""The `[service]` section: how `headend run` is reached and what it listens to.

* `control_socket`: a Unix socket (relative paths are relative to the current directory, like the
  site database) on which `headend status` and `headend read --config` talk to the running
  service, so on-demand reads go through its channels and are served before queued bulk work.
* `push_port`: where meters push DLMS DataNotifications (the IEC 62056-47 wrapper over TCP);
  `push_host` is the address it binds (loopback by default: opening it to the meters' network is
  a deliberate choice). None switches the listener off.
* `mqtt_requests`: answer on-demand read requests on `<prefix>/request/read` when an MQTT sink is
  configured.
* `shutdown_grace_s`: on SIGINT/SIGTERM, how long runs in progress may take to release their
  sessions before they are cancelled.
* `[service.commands]`: sending commands to meters (`headend.config.commands`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from headend.config.commands import CommandSettings


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    control_socket: str = Field(default="var/headend.sock", min_length=1)
    push_host: str = Field(default="127.0.0.1", min_length=1)
    push_port: int | None = Field(default=None, ge=0, le=65535)
    mqtt_requests: bool = True
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    commands: CommandSettings = Field(default_factory=CommandSettings)

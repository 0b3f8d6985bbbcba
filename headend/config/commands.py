"""The `[service.commands]` section: how commands to meters are sent and retried.

* `default_expiry_s`: a command without an expiry must be done within this many seconds (service
  clock) of its submission, else it ends `expired`;
* `backoff_s`, `backoff_max_s`: after a channel failure (timeout, channel down, breaker open) a
  command is sent again after `backoff_s`, doubled per attempt up to `backoff_max_s` (real
  seconds), while its expiry allows;
* `max_meters`: how many meters are commanded at once (more wait, most urgent priority first);
* `groups`: named sets of meters a command may target (`headend command ... --group NAME` or a
  request's `group`): one command per meter, the group's command final when all of them are;
* `mqtt`: take commands from `<prefix>/command/<meter>` on the `[sinks.mqtt]` broker (the
  connection authenticates with its user and password); `allowed_requesters`: the requesters whose
  commands are accepted there (a command from anyone else is refused, answered and audited); with
  none, the intake stays off.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CommandSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_expiry_s: float = Field(default=300.0, gt=0, le=30 * 86400)
    backoff_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=86400)
    max_meters: int = Field(default=64, ge=1, le=100_000)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    mqtt: bool = True
    allowed_requesters: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sane(self) -> CommandSettings:
        if self.backoff_max_s < self.backoff_s:
            raise ValueError("backoff_max_s must not be below backoff_s")
        for name, meters in self.groups.items():
            if not meters:
                raise ValueError(f"group {name!r} has no meters")
        return self

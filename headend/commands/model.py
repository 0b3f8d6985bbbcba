"""Commands to meters as the head-end keeps them: the request (what someone asked), the record
(the request and where it stands in its lifecycle) and the audit entry (one state change).

Lifecycle: `queued -> sent -> confirmed | armed | failed | expired`. `armed` is a reconnect the
meter accepted but left to the customer (DLMS ready_for_reconnection). A request names exactly one
target: a meter, or a group that the service expands into one child command per meter.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[\x21-\x7e]{1,128}$"
"""Command ids: 1 to 128 printable ASCII characters without spaces (a child's id is
`<parent>/<meter>`, so a parent leaves room for that)."""


class CommandAction(StrEnum):
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    LIMIT = "limit"
    RELEASE = "release"
    SYNC = "sync"
    TARIFF = "tariff"


class CommandState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    ARMED = "armed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {CommandState.CONFIRMED, CommandState.ARMED, CommandState.FAILED, CommandState.EXPIRED}
)


def _new_id() -> str:
    return uuid.uuid4().hex


class CommandRequest(BaseModel):
    """What someone asked for. `expires_at` None: the service's default expiry from now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=_new_id, pattern=ID_PATTERN)
    meter: str | None = Field(default=None, min_length=1)
    group: str | None = Field(default=None, min_length=1)
    action: CommandAction
    limit_w: Decimal | None = Field(default=None, ge=0, description="for limit")
    lease_s: int | None = Field(default=None, gt=0, description="for limit: the meter drops it")
    tariff: str | None = Field(default=None, min_length=1, description="for tariff")
    reason: str = Field(min_length=1, max_length=1000)
    requester: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=5, ge=0, le=9, description="0 most urgent .. 9")
    expires_at: AwareDatetime | None = None

    @field_validator("limit_w")
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not value.is_finite():
            raise ValueError("limit_w must be a finite number of watts")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CommandRequest:
        if (self.meter is None) == (self.group is None):
            raise ValueError("name exactly one target: meter or group")
        if self.action is CommandAction.LIMIT and self.limit_w is None:
            raise ValueError("a limit command needs limit_w (watts, >= 0)")
        if self.action is not CommandAction.LIMIT and (
            self.limit_w is not None or self.lease_s is not None
        ):
            raise ValueError(f"limit_w and lease_s are for a limit command, not {self.action}")
        if self.action is CommandAction.TARIFF and self.tariff is None:
            raise ValueError("a tariff command needs tariff (the tariff programme's name)")
        if self.action is not CommandAction.TARIFF and self.tariff is not None:
            raise ValueError(f"tariff is for a tariff command, not {self.action}")
        return self

    @property
    def target(self) -> str:
        return self.meter if self.meter is not None else f"group {self.group}"


class CommandRecord(CommandRequest):
    """A command as stored: the request, its state and its history's summary.

    A group command's record keeps `group` and no meter; its children name their meter and
    their `parent`. `expires_at` is always set once stored."""

    # a child's id is `<parent>/<meter>`: longer than a request's may be
    id: str = Field(pattern=r"^[\x21-\x7e]{1,400}$")
    state: CommandState
    attempts: int = Field(default=0, ge=0)
    detail: str = ""
    created_at: AwareDatetime
    updated_at: AwareDatetime
    parent: str | None = None

    @property
    def final(self) -> bool:
        return self.state.final


class AuditEntry(BaseModel):
    """One state change of one command: who asked, what, when (service clock), outcome."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    command_id: str
    meter: str | None
    action: CommandAction
    actor: str
    state: CommandState
    detail: str = ""

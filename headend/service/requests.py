"""On-demand read requests and their results: the messages of the control socket and of the MQTT
request topic (`<prefix>/request/read`, answered on `<prefix>/request/read/result`).

A request names meters of the fleet and either a plan of the fleet file, or OBIS points and/or a
profile (none: each meter's standard register set). The result carries the correlation id of the
request, one report per meter and the readings in the shape of `headend read --json`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.contract import Reading
from drivers.obis import ObisCode
from headend.reading.report import MeterReport

REQUEST_SCHEMA_VERSION = 1
MAX_METERS_PER_REQUEST = 10_000


class ReadRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    op: Literal["read"] = "read"
    correlation_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=128
    )
    meters: list[str] = Field(min_length=1, max_length=MAX_METERS_PER_REQUEST)
    plan: str | None = None
    points: list[ObisCode] = Field(default_factory=list)
    profile: ObisCode | None = None
    start: datetime | None = Field(default=None, description="profile window start")
    end: datetime | None = Field(default=None, description="profile window end")
    requester: str = Field(default="", max_length=128)

    @model_validator(mode="after")
    def _window(self) -> ReadRequest:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        if (self.start is not None or self.end is not None) and self.profile is None:
            if self.plan is None:
                raise ValueError("start/end need a profile")
        return self


class ReadingRow(BaseModel):
    """One reading as `headend read --json` prints it."""

    model_config = ConfigDict(frozen=True)

    meter: str
    obis: str
    value: str
    unit: str | None
    capture_time: datetime | None
    quality: str

    @classmethod
    def of(cls, reading: Reading) -> ReadingRow:
        value = reading.value
        if isinstance(value, datetime):
            text = value.isoformat()
        elif isinstance(value, str):
            text = value
        else:
            text = format(value, "f")  # never exponent notation
        return cls(
            meter=reading.meter_id,
            obis=reading.obis,
            value=text,
            unit=reading.unit,
            capture_time=reading.capture_time,
            quality=reading.quality.value,
        )


class ReadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    correlation_id: str
    ok: bool = Field(description="every value of every meter read")
    error: str | None = Field(default=None, description="why the request was refused")
    meters: list[MeterReport] = Field(default_factory=list)
    readings: list[ReadingRow] = Field(default_factory=list)

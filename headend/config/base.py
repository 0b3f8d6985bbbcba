"""What every section of the fleet file's models shares: frozen models that refuse unknown keys,
and the spelling of an id (meter, channel, plan, feeder)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class FrozenModel(BaseModel):
    """A section of the file: immutable once loaded, an unknown key is an error naming it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

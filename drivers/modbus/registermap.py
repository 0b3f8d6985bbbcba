"""Register maps: which Modbus registers hold which OBIS quantity, for one meter model.

A map is a TOML file in `config/maps/<model>.toml`, loaded into the pydantic `RegisterMap`.
Every register entry says where the value lives (function code 3 = holding, 4 = input; address
0-based as on the wire), how to decode it (data type, word order, byte order) and how to turn the
raw number into the head-end's unit: `value = raw × scale`. Energies are Wh in the head-end (as
DLMS meters report them), so a meter that counts kWh has `scale = 1000`; a register in 0.1 V has
`scale = 0.1`. `part` splits a signed register into two quantities (import = positive part,
export = negative part), so one signed "total active power" feeds both 1.7.0 and 2.7.0.
`phases = 1` marks a single-phase meter (its L1 values are the totals; the simulator serves
them so, V·I = P).

Commands (`[[commands]]`) name registers that `execute()` may write: a fixed value (relay open or
closed) or the command's argument divided by `scale` (a load limit in W). A `set_load_limit`
entry may name a `lease` register (integer seconds): the meter drops the limit by itself that
long after it was written. The driver writes the lease register before the limit register on
every limit command (0 when the command has no lease, so a lease written earlier never sticks),
and a leased command for a model without one is refused (`Unsupported`): a limit the head-end
meant to expire must not silently become permanent.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.contract import CommandKind, Point
from drivers.errors import Unsupported
from drivers.obis import ObisCode

MAPS_DIR = Path(__file__).resolve().parents[2] / "config" / "maps"


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def width(self) -> int:
        """Number of 16-bit registers the type occupies."""
        return {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}[
            self.value
        ]

    @property
    def is_float(self) -> bool:
        return self in (DataType.FLOAT32, DataType.FLOAT64)


Order = Literal["big", "little"]


class _Encoded(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: int = Field(ge=0, le=0xFFFF)
    data_type: DataType = DataType.FLOAT32
    word_order: Order = Field(default="big", description="big: most significant register first")
    byte_order: Order = Field(default="big", description="big: high byte first in a register")
    scale: Decimal = Field(default=Decimal(1), description="head-end value = raw × scale")

    @property
    def count(self) -> int:
        return self.data_type.width

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count

    @model_validator(mode="after")
    def _check(self) -> _Encoded:
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.end > 0x10000:
            raise ValueError(f"register 0x{self.address:04X} runs past 0xFFFF")
        return self


class RegisterEntry(_Encoded):
    """One readable quantity."""

    obis: ObisCode
    function: Literal[3, 4] = 3
    unit: str | None = None
    part: Literal["signed", "positive", "negative"] = "signed"
    name: str = ""


class WrittenRegister(_Encoded):
    function: Literal[6, 16] = 16

    @model_validator(mode="after")
    def _check_function(self) -> WrittenRegister:
        if self.function == 6 and self.count != 1:
            raise ValueError("function 6 writes a single register; use 16 for wider types")
        return self


class LeaseRegister(WrittenRegister):
    """The register of a limit's lease, in whole seconds (0: no lease)."""

    data_type: DataType = DataType.UINT32

    @model_validator(mode="after")
    def _check_lease(self) -> LeaseRegister:
        if self.data_type.is_float or self.data_type in (DataType.INT16, DataType.INT32):
            raise ValueError("a lease register holds unsigned whole seconds (uint16 or uint32)")
        if self.scale != 1:
            raise ValueError("a lease register counts seconds: scale must be 1")
        return self


class CommandEntry(WrittenRegister):
    """One writable register that carries a command. `value` fixed, or the argument / scale."""

    kind: CommandKind
    value: int | None = None
    lease: LeaseRegister | None = None

    @model_validator(mode="after")
    def _check_value(self) -> CommandEntry:
        if self.kind is CommandKind.SET_LOAD_LIMIT and self.value is not None:
            raise ValueError("set_load_limit takes its value from the command, not the map")
        if self.kind is not CommandKind.SET_LOAD_LIMIT and self.value is None:
            raise ValueError(f"command {self.kind} needs a fixed value")
        if self.lease is not None:
            if self.kind is not CommandKind.SET_LOAD_LIMIT:
                raise ValueError("only set_load_limit has a lease register")
            if self.lease.address < self.end and self.address < self.lease.end:
                raise ValueError("the lease register overlaps the limit register")
        return self


class RegisterMap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    description: str = ""
    max_registers_per_request: int = Field(default=125, ge=1, le=125)
    max_gap: int = Field(default=8, ge=0, description="unused registers worth reading through")
    phases: Literal[1, 3] = Field(default=3, description="1: single-phase meter (L1 = totals)")
    registers: tuple[RegisterEntry, ...]
    commands: tuple[CommandEntry, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> RegisterMap:
        seen: set[str] = set()
        for entry in self.registers:
            if entry.obis in seen:
                raise ValueError(f"OBIS {entry.obis} is mapped twice")
            seen.add(entry.obis)
            if entry.count > self.max_registers_per_request:
                raise ValueError(f"{entry.obis} is wider than max_registers_per_request")
        kinds = [c.kind for c in self.commands]
        if len(kinds) != len(set(kinds)):
            raise ValueError("a command kind is mapped twice")
        return self

    def entry(self, obis: str) -> RegisterEntry | None:
        for entry in self.registers:
            if entry.obis == obis:
                return entry
        return None

    def command(self, kind: CommandKind) -> CommandEntry | None:
        for entry in self.commands:
            if entry.kind is kind:
                return entry
        return None

    def points(self) -> list[Point]:
        """Every quantity the map defines: what `read()` of "everything" means."""
        return [Point(obis=entry.obis) for entry in self.registers]


def known_models(maps_dir: Path = MAPS_DIR) -> list[str]:
    return sorted(p.stem for p in maps_dir.glob("*.toml"))


def parse_map(text: str, source: str = "<map>") -> RegisterMap:
    """Parse one map; a bad file is a ValueError naming the file, the key path and the reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    try:
        return RegisterMap.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{source}: {where}: {first['msg']}") from None


@cache
def _load(path: Path) -> RegisterMap:
    return parse_map(path.read_text(encoding="utf-8"), str(path))


def load_map(model: str, maps_dir: Path = MAPS_DIR) -> RegisterMap:
    """The map of a meter model by name (case-insensitive); `Unsupported` lists the known ones."""
    name = model.strip().lower()
    path = maps_dir / f"{name}.toml"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = ", ".join(known_models(maps_dir)) or "none"
        raise Unsupported(f"no register map for model {model!r}; known models: {known}")
    return _load(path)


def map_points(model: str, maps_dir: Path = MAPS_DIR) -> list[Point]:
    """Every point a model's map defines (what the CLI reads when no --obis is given)."""
    return load_map(model, maps_dir).points()

"""What an export is made of: one `ExportItem` per meter, the `ExportSite` writing it, and the
`[billing.export]` settings a back-office configures (NMIs, NEM12 participant ids, ESPI base URL).

NMI choice for NEM12: a meter id that already is a valid NMI (10 characters, digits and capital
letters other than I and O, as AEMO's NMI procedure allocates them) is used as it is; otherwise the
configured `nmi` map names it; otherwise, with `derive_nmi = true`, a stable NMI is derived from
the meter id ("H" and 9 digits of its SHA-256; a clash between two meters is refused); otherwise
the export is refused naming the meter and the setting to add.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from pydantic import BaseModel, ConfigDict, Field, field_validator

from billing.bill.model import Bill
from billing.determinants.model import Determinants

IMPORT_OBIS = "1.0.1.8.0.255"
EXPORT_OBIS = "1.0.2.8.0.255"

_NMI = re.compile(r"^[A-HJ-NP-Z0-9]{10}$")
_PARTICIPANT = re.compile(r"^[A-Za-z0-9]{1,10}$")


class ExportError(ValueError):
    """An export refused before anything was written: names the meter or key and the reason."""


class ExportSettings(BaseModel):
    """The `[billing.export]` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nmi: dict[str, str] = Field(default_factory=dict)  # meter id -> NMI (10 characters)
    derive_nmi: bool = False  # derive an NMI for meters that have none (test and demo fleets)
    from_participant: str = "HEADENDMDP"  # NEM12 100 record: the metering data provider
    to_participant: str = "RETAILER"  # NEM12 100 record: the recipient
    espi_base_url: str = "https://headend.invalid/espi/1_1/resource"

    @field_validator("nmi")
    @classmethod
    def _nmis_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for meter, nmi in value.items():
            if not _NMI.match(nmi):
                raise ValueError(
                    f"nmi.{meter}: {nmi!r} is not an NMI (10 characters: digits and capital "
                    "letters other than I and O)"
                )
        seen: dict[str, str] = {}
        for meter, nmi in value.items():
            if nmi in seen:
                raise ValueError(f"nmi.{meter}: {nmi} is also the NMI of meter {seen[nmi]}")
            seen[nmi] = meter
        return value

    @field_validator("from_participant", "to_participant")
    @classmethod
    def _participant(cls, value: str) -> str:
        if not _PARTICIPANT.match(value):
            raise ValueError(f"{value!r}: a participant id is 1 to 10 letters or digits")
        return value

    @field_validator("espi_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or value.endswith("/"):
            raise ValueError(f"{value!r}: an http(s) URL without a trailing slash")
        return value


def headend_version() -> str:
    try:
        return version("headend")
    except PackageNotFoundError:  # running from a tree that was never installed
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class ExportSite:
    """Who writes the export: the site name in file names, generator, version, and settings."""

    name: str
    generator: str = "headend"
    version: str = field(default_factory=headend_version)
    settings: ExportSettings = field(default_factory=ExportSettings)

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", self.name):
            raise ExportError(f"site name {self.name!r}: letters, digits, '.', '_' or '-' only")

    def nmis(self, meter_ids: list[str]) -> dict[str, str]:
        """NMI per meter (see the module docstring); ExportError naming the first meter without."""
        result: dict[str, str] = {}
        owner: dict[str, str] = {}
        for meter in meter_ids:
            nmi = self.settings.nmi.get(meter)
            if nmi is None and _NMI.match(meter):
                nmi = meter
            if nmi is None and self.settings.derive_nmi:
                digest = int.from_bytes(hashlib.sha256(meter.encode()).digest()[:8], "big")
                nmi = f"H{digest % 10**9:09d}"
            if nmi is None:
                raise ExportError(
                    f"meter {meter}: no NMI for NEM12 (add [billing.export] nmi.{meter} = "
                    '"<10 characters>", or set derive_nmi = true)'
                )
            if nmi in owner:
                raise ExportError(f"meter {meter}: NMI {nmi} is also the NMI of meter {owner[nmi]}")
            owner[nmi] = meter
            result[meter] = nmi
        return result


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One meter's month: determinants after VEE (reads and interval series) and its bill, if any.

    `tariff_registers` is the tariff's map of time-of-use period name -> import register OBIS
    (e.g. {"night": "1.0.1.8.1.255"}); empty when the tariff bills from interval data.
    """

    meter_id: str
    det: Determinants
    bill: Bill | None = None
    tariff_registers: Mapping[str, str] = field(default_factory=dict)

"""Load tariff TOML files; every problem is a `TariffError` naming the file, the key path and why.

Numbers are read as `Decimal` straight from the TOML text (never through float), so `0.5883`
in a file is exactly 0.5883. A file either loads whole or raises: nothing half-built is returned.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from billing.tariff.model import Tariff


class TariffError(ValueError):
    """A tariff file that cannot be used: str is "FILE: key: reason"."""

    def __init__(self, path: Path | str, key: str, reason: str) -> None:
        self.path = str(path)
        self.key = key
        self.reason = reason
        super().__init__(f"{self.path}: {key}: {reason}" if key else f"{self.path}: {reason}")


def load_tariff(path: Path | str) -> Tariff:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        raise TariffError(path, "", "no such file") from None
    except OSError as exc:
        raise TariffError(path, "", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names the line and column, e.g. "Invalid value (at line 7, column 9)"
        raise TariffError(path, "", f"not valid TOML: {exc}") from None
    return tariff_from_data(path, data)


def tariff_from_data(path: Path | str, data: dict[str, Any]) -> Tariff:
    """A `Tariff` from parsed TOML, or a `TariffError` for the first problem found."""
    try:
        return Tariff.model_validate(data)
    except ValidationError as exc:
        key, reason = _first_error(exc)
        raise TariffError(path, key, reason) from None


def load_tariffs(paths: Iterable[Path | str]) -> dict[str, Tariff]:
    """Tariffs by id; all files load or none is returned. A duplicate id is refused."""
    tariffs: dict[str, Tariff] = {}
    origin: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        tariff = load_tariff(path)
        if tariff.id in tariffs:
            raise TariffError(
                path, "id", f"tariff id {tariff.id!r} is also used by {origin[tariff.id]}"
            )
        tariffs[tariff.id] = tariff
        origin[tariff.id] = path
    return tariffs


def key_path(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _first_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_input=False, include_url=False)
    # A model's own consistency check carries its key path in ctx; structural errors in loc.
    for error in errors:
        ctx = error.get("ctx") or {}
        if error["type"] == "tariff":
            return str(ctx["key"]), str(ctx["reason"])
    error = errors[0]
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key missing"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return key_path(loc), message


def _is_union_tag(part: int | str) -> bool:
    # pydantic names the union member it tried, e.g. "decimal" or "function-after[...]"
    return isinstance(part, str) and (part in {"decimal", "none"} or "[" in part)

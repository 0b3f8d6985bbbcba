"""OBIS codes (IEC 62056-6-1): the names of quantities, whatever protocol carries them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_SEPARATORS = re.compile(r"[.\-:*&,;/ ]")


def parse_obis(
    text: str | bytes | tuple[int, ...] | list[int],
) -> tuple[int, int, int, int, int, int]:
    """Parse an OBIS code in any common notation into its six value groups.

    Accepts `1.0.1.8.0.255`, `1-0:1.8.0*255`, `1.0.1.8.0` (F defaults to 255), six raw bytes,
    or a sequence of six integers. Raises ValueError naming the offending text.
    """
    if isinstance(text, bytes):
        if len(text) != 6:
            raise ValueError(f"OBIS code must be 6 bytes, got {len(text)}")
        a, b, c, d, e, f = text
        return (a, b, c, d, e, f)
    if isinstance(text, (tuple, list)):
        parts = [int(p) for p in text]
    else:
        raw = text.strip()
        try:
            parts = [int(p) for p in _SEPARATORS.split(raw) if p != ""]
        except ValueError:
            raise ValueError(f"not an OBIS code: {text!r}") from None
    if len(parts) == 5:
        parts.append(255)
    if len(parts) != 6 or any(not 0 <= p <= 255 for p in parts):
        raise ValueError(f"not an OBIS code: {text!r} (need six groups 0..255)")
    a, b, c, d, e, f = parts
    return (a, b, c, d, e, f)


def format_obis(groups: tuple[int, ...]) -> str:
    """The canonical dotted form used everywhere in this project: `1.0.1.8.0.255`."""
    return ".".join(str(g) for g in groups)


def normalize_obis(text: str | bytes | tuple[int, ...] | list[int]) -> str:
    return format_obis(parse_obis(text))


def _validate(value: object) -> str:
    if isinstance(value, (str, bytes, tuple, list)):
        return normalize_obis(value)
    raise ValueError(f"not an OBIS code: {value!r}")


ObisCode = Annotated[str, BeforeValidator(_validate)]
"""A pydantic field type holding a canonical OBIS string; any accepted notation is normalised."""

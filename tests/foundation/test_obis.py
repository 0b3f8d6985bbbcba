"""OBIS code parsing: every common notation normalises to the dotted canonical form."""

import pytest
from pydantic import BaseModel, ValidationError

from drivers.obis import ObisCode, format_obis, normalize_obis, parse_obis


@pytest.mark.parametrize(
    "text",
    ["1.0.1.8.0.255", "1-0:1.8.0*255", "1-0:1.8.0", " 1.0.1.8.0.255 ", (1, 0, 1, 8, 0, 255)],
)
def test_notations_normalise(text):
    assert normalize_obis(text) == "1.0.1.8.0.255"


def test_bytes_form():
    assert parse_obis(bytes([0, 0, 96, 3, 10, 255])) == (0, 0, 96, 3, 10, 255)
    assert format_obis((0, 0, 1, 0, 0, 255)) == "0.0.1.0.0.255"


@pytest.mark.parametrize("bad", ["1.0.1.8", "1.0.1.8.0.256", "a.b.c.d.e.f", "", b"\x01\x02"])
def test_bad_codes_name_the_text(bad):
    with pytest.raises(ValueError, match="OBIS"):
        parse_obis(bad)


def test_pydantic_field_normalises_and_rejects():
    class M(BaseModel):
        obis: ObisCode

    assert M(obis="1-0:32.7.0*255").obis == "1.0.32.7.0.255"
    with pytest.raises(ValidationError, match="OBIS"):
        M(obis="1.2.3")

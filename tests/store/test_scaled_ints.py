"""`ScaledInts`, the store's column of whole numbers times a power of ten: what numpy parses and
what it refuses (so the Decimal parser takes over), and that every way of reading the column
(index, slice, iteration, unit change, differences, joining) gives the exact Decimals
`Decimal(i).scaleb(exponent)` would, inside and outside the shared table of small values."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headend.store.scaled_ints import (
    SMALL,
    ScaledInts,
    decimal_table,
    decimals_of,
    parse_integers,
)

LIMIT = 10**18
EXPONENTS = (-3, 0, 2)
# inside the table, at its edge, past it, negative, and far from it
VALUES = [0, 1, 7, 999, 1000, SMALL - 1, SMALL, SMALL + 5, -1, -SMALL, 10**17, -(10**17), 42]

whole = st.integers(-(LIMIT - 1), LIMIT - 1)
small = st.integers(0, SMALL - 1)
ints_anywhere = st.one_of(small, whole)
exponents = st.integers(-9, 6)


def array(values: list[int]) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    return np.array(values, dtype=np.int64)


def exact(values: list[int], exponent: int) -> list[Decimal]:
    return [Decimal(v).scaleb(exponent) for v in values]


def same(got: object, want: list[Decimal]) -> None:
    """Equal values and equal spelling (the exponent a writer prints is part of the value)."""
    assert isinstance(got, list | tuple)
    assert got == want
    assert [str(v) for v in got] == [str(v) for v in want]


# parse_integers


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1,2,3", [1, 2, 3]),
        ("7", [7]),
        ("-5,0,12", [-5, 0, 12]),
        (str(LIMIT - 1), [LIMIT - 1]),
        (f"{-(LIMIT - 1)},1", [-(LIMIT - 1), 1]),
    ],
)
def test_whole_numbers_parse_exactly(text: str, want: list[int]) -> None:
    ints = parse_integers(text)
    assert ints is not None and ints.dtype == np.int64
    assert ints.tolist() == want


@pytest.mark.parametrize(
    "text",
    [
        "1.5",  # a fraction
        "1,2.5",  # a fraction after whole numbers
        "1,2.0",  # a whole number written with a fraction: its spelling is kept by Decimal
        "1e3",  # an exponent
        "1,2E3",
        "",  # no value at all
        "1,,2",  # an empty value
        "1,2,",  # a trailing comma
        ",1",  # a leading comma
        "1,x",
        "nan",
        "1,inf",
        str(LIMIT),  # 10^18: numpy's parser is near saturation
        f"1,{-LIMIT}",
        "99999999999999999999",  # saturates int64
        "-99999999999999999999",
        str(2**63),
    ],
)
def test_anything_but_whole_numbers_is_left_to_decimal(text: str) -> None:
    assert parse_integers(text) is None


@given(st.lists(whole, min_size=1, max_size=60))
def test_a_column_of_whole_numbers_round_trips(values: list[int]) -> None:
    ints = parse_integers(",".join(map(str, values)))
    assert ints is not None
    assert ints.tolist() == values


@given(st.lists(whole, min_size=1, max_size=20), st.integers(LIMIT, 10**30), st.data())
def test_one_huge_value_sends_the_column_to_decimal(
    values: list[int], huge: int, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(values)))
    sign = data.draw(st.sampled_from([1, -1]))
    values.insert(at, sign * huge)
    assert parse_integers(",".join(map(str, values))) is None


# ScaledInts read as Decimals


@pytest.mark.parametrize("exponent", EXPONENTS)
def test_index_slice_and_iteration_are_exact(exponent: int) -> None:
    column = ScaledInts(array(VALUES), exponent)
    want = exact(VALUES, exponent)
    assert len(column) == len(VALUES)
    same([column[i] for i in range(len(VALUES))], want)
    same([column[-i] for i in range(1, len(VALUES) + 1)], want[::-1])
    same(list(column), want)
    same(column.decimals(), want)
    part = column[3:9]
    assert isinstance(part, ScaledInts) and part.exponent == exponent
    assert np.shares_memory(part.ints, column.ints)  # a view, not a copy
    same(list(part), want[3:9])
    same(list(column[::-2]), want[::-2])
    with pytest.raises(IndexError):
        column[len(VALUES)]


@given(st.lists(ints_anywhere, max_size=40), exponents)
def test_every_reading_of_a_column_is_the_exact_decimal(values: list[int], exponent: int) -> None:
    column = ScaledInts(array(values), exponent)
    want = exact(values, exponent)
    same(list(column), want)
    same(decimals_of(array(values), exponent), want)
    same([column[i] for i in range(len(values))], want)
    assert column == want


@given(st.lists(small, min_size=1, max_size=40), st.sampled_from([0, -3]))
def test_small_values_come_from_the_shared_table(values: list[int], exponent: int) -> None:
    table = decimal_table(exponent)
    got = decimals_of(array(values), exponent)
    assert all(d is table[v] for d, v in zip(got, values, strict=True))
    same(got, exact(values, exponent))


def test_the_table_is_exact_and_made_once() -> None:
    table = decimal_table(-3)
    assert decimal_table(-3) is table and len(table) == SMALL
    assert str(table[0]) == "0.000" and str(table[1]) == "0.001" and str(table[1234]) == "1.234"
    assert table[SMALL - 1] == Decimal(SMALL - 1) / 1000


def test_equality_with_lists_tuples_and_columns() -> None:
    values = [1000, 2500, 0]
    column = ScaledInts(array(values), -3)
    assert column == [Decimal("1"), Decimal("2.5"), Decimal(0)]
    assert column == (Decimal("1.000"), Decimal("2.500"), Decimal("0.000"))
    assert (Decimal(1), Decimal("2.5"), Decimal(0)) == column  # the tuple defers to the column
    assert column == ScaledInts(array([100, 250, 0]), -2)  # same values, another exponent
    assert column != ScaledInts(array([1000, 2501, 0]), -3)
    assert column != [Decimal(1), Decimal("2.5")]  # shorter
    assert column != 5
    assert ScaledInts(array([]), 0) == []
    with pytest.raises(TypeError):
        hash(column)


@pytest.mark.parametrize("exponent", EXPONENTS)
@pytest.mark.parametrize("by", [-3, 0, 3, 5])
def test_rescaled_changes_the_unit_exactly(exponent: int, by: int) -> None:
    column = ScaledInts(array(VALUES), exponent)
    moved = column.rescaled(by)
    assert moved.ints is column.ints and moved.exponent == exponent + by
    same(list(moved), [v.scaleb(by) for v in exact(VALUES, exponent)])
    same(list(column), exact(VALUES, exponent))  # the original is unchanged


@given(st.lists(ints_anywhere, max_size=40), st.sampled_from(EXPONENTS))
def test_differences_are_the_exact_steps(values: list[int], exponent: int) -> None:
    # inputs within +-10^18 keep their differences inside int64 (< 2^63)
    steps = ScaledInts(array(values), exponent).differences()
    assert steps.exponent == exponent
    want = [b - a for a, b in pairwise(values)]
    assert steps.ints.tolist() == want
    decimals = exact(values, exponent)
    assert list(steps) == [b - a for a, b in pairwise(decimals)]
    same(list(steps), exact(want, exponent))


@given(st.lists(st.lists(ints_anywhere, max_size=8), min_size=1, max_size=5), exponents)
def test_joined_parts_follow_one_another(parts: list[list[int]], exponent: int) -> None:
    joined = ScaledInts.joined([ScaledInts(array(p), exponent) for p in parts])
    flat = [v for p in parts for v in p]
    assert joined.exponent == exponent and joined.ints.tolist() == flat
    same(list(joined), exact(flat, exponent))


def test_joined_views_of_one_column_leave_it_alone() -> None:
    column = ScaledInts(array([10, 20, 30, 40, 50]), -3)
    joined = ScaledInts.joined([column[0:2], column[3:5]])
    same(list(joined), exact([10, 20, 40, 50], -3))
    same(list(column), exact([10, 20, 30, 40, 50], -3))


def test_joining_different_exponents_is_refused() -> None:
    with pytest.raises(ValueError, match="different exponents"):
        ScaledInts.joined([ScaledInts(array([1]), -3), ScaledInts(array([1]), 0)])


def test_joining_nothing_is_an_empty_column() -> None:
    joined = ScaledInts.joined([])
    assert len(joined) == 0 and joined.exponent == 0

"""Correlation matrices read in binary array format equal the text form, double for double.

The reference is psycopg's own parsing of the same ``double precision[]`` as text (an
independent decoder); the values are compared by their bits (NaN, -0.0 and the extremes
included), NULLs and the shapes as they are.
"""

import math
import random
import struct
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sigmasight.repositories.results import decode_float8_array


def _bits(matrix: list[list[float | None]]) -> list[list[Any]]:
    return [[None if v is None else struct.pack(">d", v) for v in row] for row in matrix]


def _round_trip(engine: Engine, matrix: list[list[float | None]]) -> tuple[Any, bytes]:
    with engine.connect() as conn:
        as_text, binary = conn.execute(
            text("SELECT CAST(:m AS float8[]), array_send(CAST(:m AS float8[]))"), {"m": matrix}
        ).one()
    return as_text, bytes(binary)


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_a_matrix_of_doubles_decodes_to_the_same_doubles(engine: Engine, size: int) -> None:
    rng = random.Random(size)
    awkward = [0.0, -0.0, 1.0, -1.0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308]
    awkward += [0.1, 1 / 3, math.nan, math.inf, -math.inf, 0.30000000000000004]
    matrix: list[list[float | None]] = [
        [rng.choice(awkward) if rng.random() < 0.3 else rng.uniform(-1, 1) for _ in range(size)]
        for _ in range(size)
    ]
    as_text, binary = _round_trip(engine, matrix)
    decoded = decode_float8_array(binary)
    assert _bits(decoded) == _bits(as_text) == _bits(matrix)
    assert all(type(v) is float for row in decoded for v in row)


def test_nulls_and_a_non_square_matrix_decode_in_place(engine: Engine) -> None:
    matrix: list[list[float | None]] = [[1.0, None, 0.25], [None, 1.0, -0.5]]
    as_text, binary = _round_trip(engine, matrix)
    assert _bits(decode_float8_array(binary)) == _bits(as_text) == _bits(matrix)


def test_an_empty_array_is_an_empty_matrix(engine: Engine) -> None:
    with engine.connect() as conn:
        binary = conn.execute(text("SELECT array_send(CAST('{}' AS float8[]))")).scalar_one()
    assert decode_float8_array(bytes(binary)) == []


def test_another_element_type_or_shape_is_refused(engine: Engine) -> None:
    with engine.connect() as conn:
        ints, flat = conn.execute(
            text("SELECT array_send(ARRAY[[1, 2]]), array_send(ARRAY[1.5, 2.5]::float8[])")
        ).one()
    with pytest.raises(ValueError, match="not a 2-dimensional float8 array"):
        decode_float8_array(bytes(ints))
    with pytest.raises(ValueError, match="not a 2-dimensional float8 array"):
        decode_float8_array(bytes(flat))

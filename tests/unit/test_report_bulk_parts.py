"""The pure parts of bulk reports: the indented JSON text, the heatmap PNG, the panel cut."""

import datetime as dt
import json
import math
import random
from typing import Any

import numpy as np
import pytest

from sigmasight.reports.charts import (
    _coords,
    _corr_cell_color,
    _corr_color,
    _n,
    corr_grid_rgb,
    png_rgb,
)
from sigmasight.reports.jsontext import dumps_indented, dumps_json_values
from sigmasight.reports.market import ReportMarket
from sigmasight.risk.adjustment import PanelActions
from tests.reports_helpers import png_pixels


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(12 if depth < 4 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randrange(-(10**12), 10**12)
    if pick == 3:
        # Every magnitude, so that repr's exponent forms (1e-05, 1e+16) appear.
        return rng.choice([-1.0, 1.0]) * rng.random() * 10.0 ** rng.randrange(-12, 20)
    if pick == 4:
        return rng.choice([0.0, -0.0, 0.1, 1e16, 1.5e-7, 123456789.125])
    if pick == 5:
        return "".join(rng.choice('aZ09 "\\/\n\t\u00e9\u20ac\U0001f600<>&') for _ in range(8))
    if pick == 6:
        return ""
    if pick in (7, 8):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if pick == 9:
        return [rng.uniform(-1, 1) for _ in range(rng.randrange(0, 6))]
    if pick == 10:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))
    return {f"k{i}\u00e9": _value(rng, depth + 1) for i in range(rng.randrange(0, 5))}


def test_the_indented_text_is_the_standard_librarys_to_the_byte():
    rng = random.Random(20261203)
    for _ in range(3000):
        value = {"doc": _value(rng, 0), "series": [rng.gauss(0, 1) for _ in range(20)]}
        assert dumps_indented(value) == json.dumps(value, indent=2, allow_nan=False)


def test_the_rust_encoded_text_is_the_standard_librarys_to_the_byte():
    rng = random.Random(20261204)
    for _ in range(3000):
        value = {"doc": _value(rng, 0), "series": [rng.gauss(0, 1) for _ in range(20)]}
        assert dumps_json_values(value) == json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize(
    "number",
    [1e-05, -1e-05, 2.5e-07, 9.99e-05, 1e-04, 10.00001, -0.00012, 5e-324, 1e-10, 1e16, 1e22],
)
def test_small_and_large_numbers_are_written_as_repr_writes_them(number):
    value = {"a": number, "b": [number, "0.00001", f"x {number}"], "c": {"d": -number}}
    assert dumps_json_values(value) == json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize(
    "value", [{"a": [1.0, math.nan]}, {"a": math.inf}, {"a": [[-math.inf]], "b": "NaN"}]
)
def test_the_rust_encoder_refuses_non_finite_numbers_as_json_does(value):
    with pytest.raises(ValueError, match="Out of range float values"):
        dumps_json_values(value)


def test_a_string_reading_nan_is_still_written():
    value = {"a": "NaN", "b": ["Infinity", 1e-05]}
    assert dumps_json_values(value) == json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize("value", [{1: "a"}, {None: 1, "b": [1.5]}, {2.5: True}])
def test_keys_json_converts_are_converted_as_json_does(value):
    assert dumps_indented(value) == json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize(
    "value", [[1.0, math.nan], {"a": math.inf}, [[-math.inf]], {"a": [0.5, 1, math.nan]}]
)
def test_non_finite_numbers_are_refused_as_json_refuses_them(value):
    with pytest.raises(ValueError, match="Out of range float values"):
        json.dumps(value, indent=2, allow_nan=False)
    with pytest.raises(ValueError, match="Out of range float values"):
        dumps_indented(value)


def test_an_object_json_cannot_encode_is_refused_as_json_refuses_it():
    with pytest.raises(TypeError):
        dumps_indented({"a": [1, {2, 3}]})


DAYS = tuple(dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(6))


def _market(close: np.ndarray[Any, Any], symbols: tuple[str, ...]) -> ReportMarket:
    return ReportMarket(
        end=DAYS[-1],
        benchmark="SPY",
        dates=DAYS,
        symbols=symbols,
        close=close,
        stored=close * 0.5,
        actions=PanelActions.empty(len(symbols)),
    )


def test_a_cut_keeps_only_the_dates_its_own_assets_trade():
    nan = np.nan
    close = np.array(
        [
            # AAA  SPY  ZZZ
            [10.0, 100.0, 5.0],
            [nan, nan, 5.5],  # only ZZZ trades: not a date of a book of AAA and SPY
            [11.0, 101.0, nan],
            [12.0, nan, nan],
            [nan, 103.0, 6.0],
            [13.0, 104.0, 6.5],
        ]
    )
    market = _market(close, ("AAA", "SPY", "ZZZ"))
    cut = market.cut({"AAA", "SPY"})
    assert cut.dates == tuple(DAYS[i] for i in (0, 2, 3, 4, 5))
    assert cut.symbols == ("AAA", "SPY")
    expected = close[[0, 2, 3, 4, 5]][:, :2] * 0.5  # no actions: the stored series as is
    np.testing.assert_array_equal(cut.prices, expected)
    assert cut.last_price == {"AAA": 6.5, "SPY": 52.0}
    # The benchmark's returns over the cut's own dates (SPY's gap filled forward).
    spy = np.array([50.0, 50.5, 50.5, 51.5, 52.0])
    assert cut.benchmark_returns is not None
    np.testing.assert_allclose(cut.benchmark_returns, spy[1:] / spy[:-1] - 1.0, rtol=0, atol=0)
    # A book of all three trades on every date: the full panel, computed once and shared.
    full = market.cut({"AAA", "ZZZ", "SPY"})
    assert full.dates == DAYS and market.cut(["SPY", "ZZZ", "AAA"]) is full
    assert market.cut({"ZZZ", "SPY"}).dates == tuple(DAYS[i] for i in (0, 1, 2, 4, 5))
    assert market.covers({"AAA", "ZZZ"}) and not market.covers({"AAA", "QQQ"})


def test_chart_coordinates_formatted_at_once_equal_those_formatted_one_by_one():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 300, 500),
            [0.0, -0.0, 0.05, 0.15, -0.05, 2.25, 12.0, -12.04, 1e17, -1e-9, np.nan, np.inf],
        ]
    )
    assert _coords(values) == [_n(float(v)) for v in values]
    assert _coords([3, 270, -1]) == [_n(3), _n(270), _n(-1)]
    assert _coords([]) == []


def _hex(pixel: Any) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in pixel)


def test_the_heatmap_png_has_each_cells_colour_on_the_scale():
    rng = random.Random(7)
    awkward = [0.125, -0.125, 0.015, -0.015, 0.005, -0.005, -0.0, 0.0, -1e-20, 1.0, -1.0]
    awkward += [0.995, -0.995, 1.0000001, -1.004, 1.006, 0.285, 0.575, 2.675 / 10, -0.335]
    for size in (1, 2, 7, 50):
        matrix = [
            [rng.choice(awkward) if rng.random() < 0.3 else rng.uniform(-1, 1) for _ in range(size)]
            for _ in range(size)
        ]
        pixels = png_pixels(png_rgb(corr_grid_rgb(matrix, size)))
        assert pixels.shape == (size, size, 3)
        for i, row in enumerate(matrix):
            assert [_hex(p) for p in pixels[i]] == [_corr_cell_color(v) for v in row]


def test_the_colour_scale_runs_from_blue_through_white_to_red():
    assert _corr_cell_color(1.0) == _corr_color(1.0) == "#b2182b"
    assert _corr_cell_color(-1.0) == _corr_color(-1.0) == "#2166ac"
    assert _corr_cell_color(0.0) == _corr_color(0.0) == "#f7f7f7"
    assert _corr_cell_color(1.7) == _corr_cell_color(1.0)
    # A hundredth apart: the colour of the rounded value (half to even, as round() does).
    assert _corr_cell_color(0.504) == _corr_color(0.5)
    assert _corr_cell_color(0.506) == _corr_color(0.51)


def test_a_gap_nan_or_short_row_is_a_grey_cell():
    grey = _corr_color(None)
    matrix: list[list[float | None]] = [[1.0, None, 0.5], [math.nan, 1.0], [0.5, -0.2, 1.0, 0.9]]
    pixels = png_pixels(png_rgb(corr_grid_rgb(matrix, 3)))
    assert [[_hex(p) for p in row] for row in pixels] == [
        [_corr_cell_color(1.0), grey, _corr_cell_color(0.5)],
        [grey, _corr_cell_color(1.0), grey],
        [_corr_cell_color(0.5), _corr_cell_color(-0.2), _corr_cell_color(1.0)],
    ]

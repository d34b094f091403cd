"""Limits (RISK-CONVENTIONS C31): figures, breach states, defaults and bad bounds."""

import math

import numpy as np
import pandas as pd
import pytest

from sigmasight.documents import LimitState
from sigmasight.risk.limits import (
    LIMIT_KEYS,
    Bound,
    LimitBook,
    bound_problem,
    breaches_of,
    limit_figures,
    limit_states,
    make_bound,
    max_underlying_weight,
    severity,
)

NAV = 1_000_000.0


def document(**overrides: object) -> dict[str, object]:
    """A headline document with the figures limits read (made-up numbers)."""
    doc: dict[str, object] = {
        "valuation": {"nav": NAV, "gross_leverage": 1.8, "net_leverage": -0.4},
        "risk": {"full": {"hist_var_95": {"fraction": 0.021, "currency": 21000.0}}},
        "beta_spy": {"full": 0.9, "150d": 1.2},
        "stress": {
            "equity_crash": {"return_impact": -0.09, "pnl": -90_000.0},
            "market_up_5": {"return_impact": 0.06, "pnl": 60_000.0},
            "rates_up_50bp": {"return_impact": -0.013, "pnl": -13_000.0},
        },
    }
    doc.update(overrides)
    return doc


def test_each_figure_is_read_from_its_place_in_the_document():
    figures = limit_figures(document(), 0.14)
    assert figures == {
        "hist_var_95_fraction": 0.021,
        "gross_leverage": 1.8,
        "net_leverage": -0.4,
        "beta_spy_150d": 1.2,
        "max_position_weight": 0.14,
        "worst_stress_fraction": 90_000.0 / NAV,
    }
    assert list(figures) == list(LIMIT_KEYS)


def test_worst_stress_is_the_largest_loss_and_zero_when_nothing_loses():
    gains = {"a": {"pnl": 10.0}, "b": {"pnl": 2.0}}
    assert limit_figures(document(stress=gains), 0.1)["worst_stress_fraction"] == 0.0
    losses = {"a": {"pnl": -10.0}, "b": {"pnl": -250.0}, "c": {"pnl": 5.0}}
    assert limit_figures(document(stress=losses), 0.1)["worst_stress_fraction"] == 250.0 / NAV


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (
            {"risk": {"full": {"hist_var_95": {"fraction": None, "currency": None}}}},
            "hist_var_95_fraction",
        ),
        (
            {"valuation": {"nav": None, "gross_leverage": None, "net_leverage": None}},
            "gross_leverage",
        ),
        (
            {"valuation": {"nav": None, "gross_leverage": None, "net_leverage": None}},
            "net_leverage",
        ),
        ({"beta_spy": {"full": None, "150d": None}}, "beta_spy_150d"),
        ({"stress": {"a": {"pnl": -5.0}, "b": {"pnl": None}}}, "worst_stress_fraction"),
        ({"stress": {}}, "worst_stress_fraction"),
        (
            {"valuation": {"nav": -10.0, "gross_leverage": None, "net_leverage": None}},
            "worst_stress_fraction",
        ),
    ],
)
def test_a_figure_that_cannot_be_computed_is_null_and_its_limit_unknown(overrides, key):
    figures = limit_figures(document(**overrides), 0.1)
    assert figures[key] is None
    # Even with a previous breach: unknown is never ok and never "resolved".
    for before in (frozenset(), frozenset({key})):
        (state,) = limit_states(
            {key: (0.0, 1.0) if key == "beta_spy_150d" else 0.5}, figures, before
        )
        assert state == {"limit": key, "value": None, "bound": state["bound"], "status": "unknown"}


def test_a_null_position_weight_makes_the_limit_unknown():
    figures = limit_figures(document(), float("nan"))
    assert figures["max_position_weight"] is None
    (state,) = limit_states({"max_position_weight": 0.2}, figures, frozenset())
    assert state["status"] == "unknown"


# (value, bound, in breach)
CASES = [
    (0.021, 0.03, False),
    (0.021, 0.02, True),
    (0.03, 0.03, False),  # at the bound is within it
    (-0.4, 0.3, True),  # a cap bounds the magnitude: a net-short book too
    (-0.4, 0.5, False),
    (1.2, (0.5, 1.5), False),
    (1.2, (0.5, 1.1), True),
    (0.4, (0.5, 1.5), True),  # below the range
    (-0.1, (-0.2, 0.2), False),  # a market-neutral range
    (0.5, (0.5, 0.5), False),
]


@pytest.mark.parametrize(("value", "bound", "breach"), CASES)
def test_each_status_follows_today_and_the_previous_session(value, bound, breach):
    key = "beta_spy_150d" if isinstance(bound, tuple) else "net_leverage"
    figures = {key: value}
    today = {
        before: limit_states({key: bound}, figures, frozenset({key}) if before else frozenset())[0]
        for before in (False, True)
    }
    expected = {False: "new", True: "continuing"} if breach else {False: "ok", True: "resolved"}
    assert {before: s["status"] for before, s in today.items()} == expected
    shown = list(bound) if isinstance(bound, tuple) else bound
    assert today[False] == {"limit": key, "value": value, "bound": shown, "status": expected[False]}


def test_every_configured_limit_is_listed_in_key_order_and_only_those():
    figures = limit_figures(document(), 0.14)
    limits: dict[str, Bound] = {
        "worst_stress_fraction": 0.05,
        "hist_var_95_fraction": 0.03,
        "beta_spy_150d": (0.5, 1.5),
        "max_position_weight": 0.1,
    }
    states = limit_states(
        limits, figures, frozenset({"hist_var_95_fraction", "max_position_weight"})
    )
    assert [s["limit"] for s in states] == [
        "hist_var_95_fraction",
        "beta_spy_150d",
        "max_position_weight",
        "worst_stress_fraction",
    ]
    assert {s["limit"]: s["status"] for s in states} == {
        "hist_var_95_fraction": "resolved",  # 0.021 <= 0.03, in breach yesterday
        "beta_spy_150d": "ok",
        "max_position_weight": "continuing",  # 0.14 > 0.1
        "worst_stress_fraction": "new",  # 0.09 > 0.05
    }
    assert limit_states({}, figures, frozenset({"gross_leverage"})) == []
    assert breaches_of(states) == {"max_position_weight", "worst_stress_fraction"}
    # Each entry reads as the document's typed state.
    typed = [LimitState.model_validate(s) for s in states]
    assert [t.in_breach for t in typed] == [False, False, True, True]
    ranked = sorted(typed, key=lambda t: severity(t.status))
    assert [t.status for t in ranked] == ["new", "continuing", "resolved", "ok"]


def test_a_portfolio_limit_overrides_the_default_of_its_key():
    book = LimitBook(
        defaults={"gross_leverage": 2.0, "beta_spy_150d": (0.5, 1.5)},
        own={7: {"gross_leverage": 3.0, "max_position_weight": 0.2}},
    )
    assert book.for_portfolio(7) == {
        "gross_leverage": 3.0,
        "beta_spy_150d": (0.5, 1.5),
        "max_position_weight": 0.2,
    }
    assert book.for_portfolio(8) == {"gross_leverage": 2.0, "beta_spy_150d": (0.5, 1.5)}
    figures = limit_figures(
        document(valuation={"nav": NAV, "gross_leverage": 2.5, "net_leverage": 1.0}), 0.1
    )
    by_key = {s["limit"]: s for s in limit_states(book.for_portfolio(7), figures, frozenset())}
    assert by_key["gross_leverage"]["status"] == "ok" and by_key["gross_leverage"]["bound"] == 3.0
    by_key = {s["limit"]: s for s in limit_states(book.for_portfolio(8), figures, frozenset())}
    assert by_key["gross_leverage"]["status"] == "new" and by_key["gross_leverage"]["bound"] == 2.0


def test_max_position_weight_nets_options_with_their_underlying():
    rng = np.random.default_rng(5)
    n_p = 4
    assets = ["AAPL", "SPY", "MSFT", "SPY", "AAPL", "XOM", "SPY"]
    owner = np.array([0, 0, 0, 1, 1, 1, 3])  # portfolio 2 has no positions
    weight = rng.normal(0, 0.2, len(assets))
    weight[1] = 0.3
    weight[3] = -0.25
    usable = np.array([True, True, True, True])
    found = max_underlying_weight(weight, owner, assets, n_p, usable)
    frame = pd.DataFrame({"p": owner, "asset": assets, "w": weight})
    expected = frame.groupby(["p", "asset"])["w"].sum().abs().groupby("p").max()
    for p in range(n_p):
        assert found[p] == pytest.approx(expected.get(p, 0.0), rel=1e-15)
    # A long stock and a short option on it net: 0.3 + (-0.25) on one underlying.
    netted = max_underlying_weight(
        np.array([0.3, -0.25, 0.1]),
        np.zeros(3, dtype=np.int64),
        ["SPY", "SPY", "AAPL"],
        1,
        usable[:1],
    )
    assert netted[0] == pytest.approx(0.1)


def test_max_position_weight_is_nan_without_a_usable_nav_or_a_weight():
    weight = np.array([0.1, np.nan, 0.2])
    owner = np.array([0, 1, 2])
    found = max_underlying_weight(weight, owner, ["A", "B", "C"], 3, np.array([True, True, False]))
    assert found[0] == pytest.approx(0.1)
    assert math.isnan(found[1]) and math.isnan(found[2])


@pytest.mark.parametrize(
    ("key", "values", "problem"),
    [
        ("gross_levrage", [2.0], "unknown limit 'gross_levrage'"),
        ("gross_leverage", [-1.0], "must be a number >= 0, got -1"),
        ("hist_var_95_fraction", [float("nan")], "must be a finite number"),
        ("beta_spy_150d", [1.5, 0.5], "min 1.5 is above max 0.5"),
        ("beta_spy_150d", [1.0], "takes a range [min, max] of two numbers, got 1"),
        ("max_position_weight", [0.1, 0.2], "takes one bound, got 2 numbers"),
    ],
)
def test_bad_bounds_are_named(key, values, problem):
    found = bound_problem(key, values)
    assert found is not None and problem in found
    with pytest.raises(ValueError, match=key):
        make_bound(key, values)


def test_good_bounds():
    assert make_bound("beta_spy_150d", [-0.2, 0.2]) == (-0.2, 0.2)
    assert make_bound("worst_stress_fraction", [0]) == 0.0
    assert all(
        bound_problem(k, [1.0, 2.0] if k == "beta_spy_150d" else [1.0]) is None for k in LIMIT_KEYS
    )


def test_the_bundle_example_of_formats_section_7_parses():
    import copy
    import datetime as dt

    from sigmasight.importers.bundle import parse_bundle
    from tests.unit.test_bundle import EXAMPLE

    data = copy.deepcopy(EXAMPLE)
    # FORMATS.md section 7, verbatim.
    data["portfolios"][0]["limits"] = {
        "hist_var_95_fraction": 0.03,
        "gross_leverage": 2.5,
        "beta_spy_150d": [0.5, 1.5],
        "max_position_weight": 0.10,
        "worst_stress_fraction": 0.25,
    }
    data["default_limits"] = {"net_leverage": 1, "gross_leverage": None}  # null: absent
    bundle = parse_bundle(data, source="b.json", today=dt.date(2025, 6, 2))
    assert bundle.portfolios[0].limits == {
        "hist_var_95_fraction": 0.03,
        "gross_leverage": 2.5,
        "beta_spy_150d": (0.5, 1.5),
        "max_position_weight": 0.1,
        "worst_stress_fraction": 0.25,
    }
    assert bundle.default_limits == {"net_leverage": 1.0}
    # Without the keys: None, so the stored limits stay as they are.
    plain = parse_bundle(copy.deepcopy(EXAMPLE), source="b.json", today=dt.date(2025, 6, 2))
    assert plain.portfolios[0].limits is None and plain.default_limits is None

"""BSM pricing and Greeks: textbook anchors, identities, py_vollib and finite differences."""

import datetime as dt
import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from sigmasight.risk.options import (
    BsmResult,
    bsm,
    desk_greeks,
    position_greeks,
    r_from_treasury_yield,
    year_fraction,
    year_fractions,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # py_vollib says "import vollib instead"
    from py_vollib.black_scholes_merton import black_scholes_merton
    from py_vollib.black_scholes_merton.greeks import analytical as vollib_greeks

N_RANDOM = 200
FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho")


def random_grid(seed: int, n: int = N_RANDOM) -> dict[str, npt.NDArray[Any]]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(20.0, 500.0, n)
    return {
        "spot": spot,
        "strike": spot * rng.uniform(0.75, 1.3, n),
        "years": rng.uniform(0.05, 2.0, n),
        "rate": rng.uniform(-0.01, 0.08, n),
        "dividend_yield": rng.uniform(0.0, 0.05, n),
        "vol": rng.uniform(0.1, 0.6, n),
        "is_call": rng.random(n) < 0.5,
    }


GRID = random_grid(20250102)


# --- textbook anchors (Hull), tolerance 0.005 on the printed values ------------------------


@pytest.mark.parametrize(
    ("is_call", "exact", "printed"), [(True, 4.7594, 4.76), (False, 0.8086, 0.81)]
)
def test_hull_call_and_put_price(is_call, exact, printed):
    price = float(bsm(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, is_call).price)
    assert price == pytest.approx(exact, abs=5e-5)
    assert price == pytest.approx(printed, abs=0.005)


def test_hull_20_week_call_greeks_raw_and_desk_units():
    result = bsm(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)
    desk = desk_greeks(result)
    assert float(result.price) == pytest.approx(2.40, abs=0.005)
    assert float(result.delta) == pytest.approx(0.522, abs=0.005)
    assert float(result.gamma) == pytest.approx(0.066, abs=0.005)
    assert float(result.theta) == pytest.approx(-4.31, abs=0.005)
    assert float(result.vega) == pytest.approx(12.1, abs=0.01)  # printed to 3 significant digits
    assert float(result.rho) == pytest.approx(8.91, abs=0.005)
    assert float(desk["delta"]) == float(result.delta)
    assert float(desk["gamma"]) == float(result.gamma)
    assert float(desk["theta_per_calendar_day"]) == pytest.approx(-0.0118, abs=5e-5)
    assert float(desk["vega_per_1pct_vol"]) == pytest.approx(0.121, abs=5e-4)
    assert float(desk["rho_per_1pct_rate"]) == pytest.approx(0.0891, abs=5e-5)


def test_hull_20_week_put_theta():
    result = bsm(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, False)
    assert float(result.theta) == pytest.approx(-1.853, abs=0.005)
    assert float(desk_greeks(result)["theta_per_calendar_day"]) == pytest.approx(
        -1.853 / 365, abs=1e-5
    )


# --- identities ------------------------------------------------------------------------------


def call_and_put(grid: dict[str, npt.NDArray[Any]]) -> tuple[BsmResult, BsmResult]:
    args = (
        grid["spot"],
        grid["strike"],
        grid["years"],
        grid["rate"],
        grid["dividend_yield"],
        grid["vol"],
    )
    return bsm(*args, True), bsm(*args, False)


def test_put_call_parity_on_random_inputs():
    call, put = call_and_put(GRID)
    s, k, t = GRID["spot"], GRID["strike"], GRID["years"]
    forward_gap = s * np.exp(-GRID["dividend_yield"] * t) - k * np.exp(-GRID["rate"] * t)
    np.testing.assert_allclose(call.price - put.price, forward_gap, rtol=1e-10, atol=1e-12)


def test_call_minus_put_delta_and_equal_gamma_vega():
    call, put = call_and_put(GRID)
    np.testing.assert_allclose(
        call.delta - put.delta, np.exp(-GRID["dividend_yield"] * GRID["years"]), rtol=1e-12
    )
    np.testing.assert_allclose(call.gamma, put.gamma, rtol=1e-12)
    np.testing.assert_allclose(call.vega, put.vega, rtol=1e-12)


def test_theta_and_rho_parity():
    call, put = call_and_put(GRID)
    s, k, t, r, q = (GRID[n] for n in ("spot", "strike", "years", "rate", "dividend_yield"))
    np.testing.assert_allclose(
        call.theta - put.theta,
        q * s * np.exp(-q * t) - r * k * np.exp(-r * t),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(call.rho - put.rho, k * t * np.exp(-r * t), rtol=1e-10)


# --- agreement with py_vollib (relative 1e-6; its theta is per day, vega/rho x 0.01) ----------


def test_agrees_with_py_vollib_on_random_grid_with_dividends():
    g = GRID
    result = bsm(
        g["spot"], g["strike"], g["years"], g["rate"], g["dividend_yield"], g["vol"], g["is_call"]
    )
    desk = desk_greeks(result)
    mine = {
        "price": result.price,
        "delta": desk["delta"],
        "gamma": desk["gamma"],
        "vega": desk["vega_per_1pct_vol"],
        "theta": desk["theta_per_calendar_day"],
        "rho": desk["rho_per_1pct_rate"],
    }
    reference_functions = {
        "price": black_scholes_merton,
        "delta": vollib_greeks.delta,
        "gamma": vollib_greeks.gamma,
        "vega": vollib_greeks.vega,
        "theta": vollib_greeks.theta,
        "rho": vollib_greeks.rho,
    }
    for name, function in reference_functions.items():
        expected = np.array(
            [
                function(
                    "c" if g["is_call"][i] else "p",
                    g["spot"][i],
                    g["strike"][i],
                    g["years"][i],
                    g["rate"][i],
                    g["vol"][i],
                    g["dividend_yield"][i],
                )
                for i in range(N_RANDOM)
            ],
            dtype=np.float64,
        )
        np.testing.assert_allclose(mine[name], expected, rtol=1e-6, atol=1e-12, err_msg=name)


# --- finite differences of our own price (relative 1e-3) --------------------------------------


def test_greeks_match_central_differences_of_price():
    n = 60
    rng = np.random.default_rng(7)
    spot = rng.uniform(50.0, 150.0, n)
    base: dict[str, npt.NDArray[Any]] = {
        "spot": spot,
        "strike": spot * rng.uniform(0.85, 1.15, n),
        "years": rng.uniform(0.2, 2.0, n),
        "rate": rng.uniform(0.01, 0.06, n),
        "dividend_yield": rng.uniform(0.0, 0.04, n),
        "vol": rng.uniform(0.15, 0.5, n),
        "is_call": rng.random(n) < 0.5,
    }

    def price(**bump: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return bsm(**{**base, **bump}).price

    result = bsm(**base)
    s, t, r, v = base["spot"], base["years"], base["rate"], base["vol"]
    hs, ht, hr, hv = 1e-3 * s, 1e-4, 1e-5, 1e-5
    fd_delta = (price(spot=s + hs) - price(spot=s - hs)) / (2 * hs)
    fd_gamma = (price(spot=s + hs) - 2 * result.price + price(spot=s - hs)) / hs**2
    fd_vega = (price(vol=v + hv) - price(vol=v - hv)) / (2 * hv)
    fd_theta = -(price(years=t + ht) - price(years=t - ht)) / (2 * ht)
    fd_rho = (price(rate=r + hr) - price(rate=r - hr)) / (2 * hr)
    np.testing.assert_allclose(result.delta, fd_delta, rtol=1e-3)
    np.testing.assert_allclose(result.gamma, fd_gamma, rtol=1e-3)
    np.testing.assert_allclose(result.vega, fd_vega, rtol=1e-3)
    np.testing.assert_allclose(result.theta, fd_theta, rtol=1e-3)
    np.testing.assert_allclose(result.rho, fd_rho, rtol=1e-3)


# --- position Greeks ----------------------------------------------------------------------------


def test_short_put_position_greeks_have_natural_signs():
    spot = 100.0
    result = bsm(spot, 100.0, 0.25, 0.04, 0.01, 0.25, False)
    pos = position_greeks(result, spot, 100, -100)
    desk = desk_greeks(result)
    assert float(pos["delta_dollars"]) > 0.0
    assert float(pos["gamma_shares_per_1usd"]) < 0.0
    assert float(pos["theta_usd_per_calendar_day"]) > 0.0
    assert float(pos["vega_usd_per_1pct_vol"]) < 0.0
    assert float(pos["rho_usd_per_1pct_rate"]) > 0.0
    assert float(pos["market_value"]) < 0.0
    shares = 100 * -100
    assert float(pos["delta_dollars"]) == pytest.approx(float(result.delta) * shares * spot)
    assert float(pos["delta_equivalent_exposure"]) == float(pos["delta_dollars"])
    assert float(pos["gamma_shares_per_1usd"]) == pytest.approx(float(result.gamma) * shares)
    assert float(pos["vega_usd_per_1pct_vol"]) == pytest.approx(
        float(desk["vega_per_1pct_vol"]) * shares
    )
    assert float(pos["theta_usd_per_calendar_day"]) == pytest.approx(
        float(result.theta) / 365 * shares
    )
    assert float(pos["rho_usd_per_1pct_rate"]) == pytest.approx(float(result.rho) / 100 * shares)
    assert float(pos["market_value"]) == pytest.approx(float(result.price) * shares)


def test_position_greeks_vectorised_and_keys_match_formats():
    g = GRID
    result = bsm(
        g["spot"], g["strike"], g["years"], g["rate"], g["dividend_yield"], g["vol"], g["is_call"]
    )
    contracts = np.random.default_rng(11).integers(-50, 50, N_RANDOM)
    pos = position_greeks(result, g["spot"], 100, contracts)
    assert set(pos) == {
        "delta_dollars",
        "gamma_shares_per_1usd",
        "vega_usd_per_1pct_vol",
        "theta_usd_per_calendar_day",
        "rho_usd_per_1pct_rate",
        "delta_equivalent_exposure",
        "market_value",
    }
    assert set(desk_greeks(result)) == {
        "delta",
        "gamma",
        "vega_per_1pct_vol",
        "theta_per_calendar_day",
        "rho_per_1pct_rate",
    }
    for values in pos.values():
        assert values.shape == (N_RANDOM,)
    np.testing.assert_allclose(pos["delta_dollars"], result.delta * 100 * contracts * g["spot"])
    with pytest.raises(ValueError, match="broadcast"):
        position_greeks(result, g["spot"][:3], 100, contracts)


# --- expired options and invalid inputs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spot", "is_call", "price", "delta"),
    [
        (110.0, True, 10.0, 1.0),
        (90.0, True, 0.0, 0.0),
        (100.0, True, 0.0, 0.0),
        (90.0, False, 10.0, -1.0),
        (110.0, False, 0.0, 0.0),
        (100.0, False, 0.0, 0.0),
    ],
)
@pytest.mark.parametrize("years", [0.0, -3 / 365])
def test_expired_option_is_worth_intrinsic_value(spot, is_call, price, delta, years):
    result = bsm(spot, 100.0, years, 0.05, 0.02, 0.3, is_call)
    assert float(result.price) == price
    assert float(result.delta) == delta
    assert (float(result.gamma), float(result.vega), float(result.theta), float(result.rho)) == (
        0,
        0,
        0,
        0,
    )


def test_expired_option_ignores_missing_vol_and_rate():
    result = bsm(110.0, 100.0, 0.0, np.nan, np.nan, np.nan, True)
    assert float(result.price) == 10.0
    assert float(result.delta) == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        {"vol": 0.0},
        {"vol": -0.2},
        {"vol": np.nan},
        {"spot": np.nan},
        {"spot": 0.0},
        {"spot": -5.0},
        {"strike": 0.0},
        {"strike": np.inf},
        {"years": np.nan},
        {"rate": np.nan},
        {"dividend_yield": np.nan},
    ],
)
def test_invalid_inputs_give_nan_without_warnings(bad):
    inputs = {
        "spot": 100.0,
        "strike": 100.0,
        "years": 0.5,
        "rate": 0.03,
        "dividend_yield": 0.0,
        "vol": 0.2,
        "is_call": True,
    }
    inputs.update(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = bsm(**inputs)
    for name in FIELDS:
        assert np.isnan(getattr(result, name)), name


def test_invalid_row_does_not_contaminate_valid_rows():
    result = bsm([100.0, 100.0], 100.0, 0.5, 0.03, 0.0, [0.2, 0.0], True)
    assert np.isfinite(result.price[0])
    assert np.isnan(result.price[1])


def test_non_broadcasting_inputs_raise_value_error():
    with pytest.raises(ValueError, match="broadcast"):
        bsm(np.ones(3), np.ones(2), 0.5, 0.03, 0.0, 0.2, True)


def test_non_boolean_flag_raises_type_error():
    with pytest.raises(TypeError, match="is_call"):
        bsm(100.0, 100.0, 0.5, 0.03, 0.0, 0.2, np.array(["c"]))


# --- vectorisation ---------------------------------------------------------------------------------


def test_vectorised_equals_scalar_loop():
    n = 40
    g = {k: v[:n] for k, v in GRID.items()}
    years = g["years"].copy()
    years[:3] = [0.0, -0.1, 1e-9]  # expired and nearly expired rows
    vector = bsm(
        g["spot"], g["strike"], years, g["rate"], g["dividend_yield"], g["vol"], g["is_call"]
    )
    for i in range(n):
        scalar = bsm(
            float(g["spot"][i]),
            float(g["strike"][i]),
            float(years[i]),
            float(g["rate"][i]),
            float(g["dividend_yield"][i]),
            float(g["vol"][i]),
            bool(g["is_call"][i]),
        )
        for name in FIELDS:
            assert getattr(scalar, name).shape == ()
            assert float(getattr(scalar, name)) == float(getattr(vector, name)[i]), (name, i)


def test_broadcasting_scalar_strike_over_vector_spot():
    spots = np.array([90.0, 100.0, 110.0])
    result = bsm(spots, 100.0, 0.5, 0.03, 0.01, 0.2, True)
    assert result.price.shape == (3,)
    assert np.all(np.diff(result.price) > 0)


def test_result_is_frozen():
    result = bsm(100.0, 100.0, 0.5, 0.03, 0.0, 0.2, True)
    with pytest.raises(AttributeError):
        result.price = np.array(0.0)  # type: ignore[misc]


# --- dates and rates -------------------------------------------------------------------------------


def test_year_fraction_act_365():
    assert year_fraction(dt.date(2025, 1, 1), dt.date(2025, 7, 2)) == 182 / 365
    assert year_fraction(dt.date(2024, 1, 1), dt.date(2025, 1, 1)) == 366 / 365
    assert year_fraction(dt.date(2025, 3, 21), dt.date(2025, 3, 21)) == 0.0
    assert year_fraction(dt.date(2025, 3, 21), dt.date(2025, 3, 20)) == -1 / 365
    with pytest.raises(TypeError):
        year_fraction(dt.datetime(2025, 1, 1, 16), dt.date(2025, 7, 2))


def test_year_fractions_vectorised_matches_scalar():
    valuation = dt.date(2025, 1, 2)
    expiries = [dt.date(2025, 1, 17), dt.date(2025, 12, 19), dt.date(2024, 12, 20)]
    vector = year_fractions(np.datetime64(valuation), np.array(expiries, dtype="datetime64[D]"))
    np.testing.assert_array_equal(vector, [year_fraction(valuation, e) for e in expiries])
    with_nat = year_fractions(valuation, np.array(["2025-06-20", "NaT"], dtype="datetime64[D]"))
    assert with_nat[0] == year_fraction(valuation, dt.date(2025, 6, 20))
    assert np.isnan(with_nat[1])


def test_r_from_treasury_yield():
    r = r_from_treasury_yield(4.0)
    assert isinstance(r, float)
    assert r == pytest.approx(2 * math.log(1.02), rel=1e-15)
    assert math.exp(r) == pytest.approx(1.02**2, rel=1e-15)  # semi-annual equivalence
    assert r_from_treasury_yield(0.0) == 0.0
    vector = r_from_treasury_yield(np.array([4.0, -0.5, np.nan, -250.0]))
    assert vector[0] == pytest.approx(r)
    assert vector[1] < 0
    assert np.isnan(vector[2:]).all()

"""The risk engine end to end, without a database, against independent references.

A synthetic NYSE panel (7 factor ETFs, 11 stocks with a 3-session gap, an 8-session gap and a
late listing, DGS10 with missing prints) and seven portfolios in ONE ``Books`` chunk go through
:func:`prepare_market` and :func:`compute_books`. Every figure is recomputed here from the raw
inputs with pandas, empyrical, quantstats, statsmodels and py_vollib following
RISK-CONVENTIONS.md; tolerances are its section 4 (relative 1e-6 for return statistics,
absolute 1e-6 for OLS, 0.01 USD for currency, relative 1e-6 for analytical Greeks).
"""

import dataclasses
import datetime as dt
import json
import math
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest

# Narrow imports: statsmodels.api pulls in every model (~0.8 s more at collection).
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from sigmasight.risk.document import headline
from sigmasight.risk.engine import (
    CONVENTIONS,
    BookResults,
    Books,
    Market,
    Panel,
    Scenario,
    compute_books,
    prepare_market,
)
from sigmasight.trading_calendar import sessions

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # py_vollib says "import vollib instead"
    from py_vollib.black_scholes_merton import black_scholes_merton
    from py_vollib.black_scholes_merton.greeks import analytical as vollib_greeks

NAN = math.nan
REL = 1e-6
OLS_ABS = 1e-6
USD = 0.01
SEED = 20240909
N_SESSIONS = 320
DATES: tuple[dt.date, ...] = tuple(
    sessions(dt.date(2023, 6, 1), dt.date(2024, 12, 31))[:N_SESSIONS]
)
T = DATES[-1]
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
# factor ETF = loading x market + spread noise (daily std): correlated 0.9+ with SPY
ETF_LOADINGS = {
    "VTV": (0.85, 0.003),
    "VUG": (1.15, 0.004),
    "MTUM": (1.05, 0.004),
    "QUAL": (1.0, 0.0025),
    "IWM": (1.2, 0.004),
    "USMV": (0.7, 0.003),
}
# stock = beta x market + rate loading x dy(pp) + idiosyncratic noise
STOCKS = {
    "S01": (1.1, -0.004),
    "S02": (0.8, 0.0),
    "S03": (1.3, 0.002),
    "S04": (0.5, -0.02),
    "S05": (1.0, 0.0),
    "S06": (1.5, 0.003),
    "S07": (0.9, -0.01),
    "S08": (1.2, 0.0),
    "GAPA": (1.0, 0.0),
    "GAPB": (0.7, -0.005),
    "LATE": (1.4, 0.0),
}
SYMBOLS = (*FACTORS, *STOCKS)
GAPA_ROWS = slice(250, 253)  # 3 sessions without a bar: filled (C3)
GAPB_ROWS = slice(200, 208)  # 8 sessions: 5 filled, 3 stay NaN -> 4 NaN returns
LATE_LISTING = 100  # NaN for the first 100 sessions
MTUM_GAP_ROW = 60  # one missing factor bar (filled)
GOOD_FRIDAY = dt.date(2024, 3, 29)  # a weekday without a session but with a DGS10 print
DGS10_MISSING = tuple(  # sessions without a print ('.'), none right after a printed non-session
    dt.date.fromisoformat(d)
    for d in ("2023-08-16", "2023-11-08", "2024-02-07", "2024-05-22", "2024-07-17", "2024-08-14")
)
FIRST_PRINT = 3  # DGS10 starts on the 4th weekday: leading NaN


# ------------------------------------------------------------------ synthetic market data


def _dgs10(rng: np.random.Generator) -> pd.Series:
    """FRED-style DGS10 on weekdays, in percent, NaN ('.') on holidays and a few other days."""
    weekdays = pd.bdate_range(DATES[0], DATES[-1])
    level = 4.0 + np.cumsum(rng.normal(0.0, 0.06, weekdays.size))
    on_sessions = set(DATES)
    missing = np.array(
        [
            (day not in on_sessions and day != GOOD_FRIDAY)  # bond-market holiday
            or day in DGS10_MISSING
            for day in (ts.date() for ts in weekdays)
        ]
    )
    missing[:FIRST_PRINT] = True
    return pd.Series(np.where(missing, NAN, level), index=weekdays)


def _dy_c12(fred: pd.Series) -> pd.Series:
    """C12: forward-fill on the weekday calendar, sample on equity dates, difference (pp)."""
    on_sessions = fred.ffill().reindex(pd.DatetimeIndex(DATES))
    return on_sessions.diff().iloc[1:]


def _build() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(SEED)
    n = N_SESSIONS
    fred = _dgs10(rng)
    dy = np.concatenate([[0.0], np.nan_to_num(_dy_c12(fred).to_numpy())])
    market = rng.standard_t(5, n) * 0.008 + 0.0004
    rets = {"SPY": market}
    for etf, (loading, spread) in ETF_LOADINGS.items():
        rets[etf] = loading * market + rng.normal(0.0, spread, n)
    for stock, (beta, rate_loading) in STOCKS.items():
        rets[stock] = beta * market + rate_loading * dy + rng.normal(0.0002, 0.014, n)
    growth = 1.0 + np.column_stack([rets[symbol] for symbol in SYMBOLS])
    growth[0] = 1.0
    values = np.cumprod(growth, axis=0) * rng.uniform(30.0, 400.0, len(SYMBOLS))
    column = SYMBOLS.index
    values[GAPA_ROWS, column("GAPA")] = NAN
    values[GAPB_ROWS, column("GAPB")] = NAN
    values[:LATE_LISTING, column("LATE")] = NAN
    values[MTUM_GAP_ROW, column("MTUM")] = NAN
    prices = pd.DataFrame(values, index=pd.DatetimeIndex(DATES), columns=list(SYMBOLS))
    return prices, fred


PRICES, FRED = _build()
FILLED = PRICES.ffill(limit=5)
RETURNS = FILLED.pct_change(fill_method=None).iloc[1:]  # C3 + C4
DY = _dy_c12(FRED)
SPOT = FILLED.iloc[-1]
PANEL = Panel(
    dates=DATES,
    symbols=SYMBOLS,
    prices=PRICES.to_numpy(dtype=np.float64),
    # sampled on the sessions: a missing print stays NaN, the engine carries the last one (C12)
    rate_pp=FRED.reindex(pd.DatetimeIndex(DATES)).to_numpy(dtype=np.float64),
    factors=FACTORS,
)


# ------------------------------------------------------------------ books


@dataclasses.dataclass(frozen=True)
class Pos:
    symbol: str
    quantity: float
    underlying: str | None = None
    call: bool = True
    moneyness: float = 1.0  # strike / spot on T
    days: int = 0  # calendar days from T to expiry
    iv: float = NAN
    q: float = 0.0

    @property
    def asset(self) -> str:
        return self.underlying or self.symbol

    @property
    def strike(self) -> float:
        return round(float(SPOT[self.asset]) * self.moneyness, 0) if self.underlying else NAN

    @property
    def years(self) -> float:
        return self.days / 365.0 if self.underlying else NAN


def _opt(
    underlying: str, contracts: float, call: bool, moneyness: float, days: int, iv: float = NAN
) -> Pos:
    expiry = T + dt.timedelta(days=days)
    strike = round(float(SPOT[underlying]) * moneyness, 0)
    right = "C" if call else "P"
    symbol = f"O:{underlying}{expiry:%y%m%d}{right}{int(strike * 1000):08d}"
    q = 0.013 if underlying == "SPY" else 0.005
    return Pos(symbol, contracts, underlying, call, moneyness, days, iv, q)


PORTFOLIOS: dict[str, tuple[float, float, tuple[Pos, ...]]] = {
    # id: (cash, option rate, positions)
    "LONG": (
        25_000.0,
        0.043,
        (
            Pos("S01", 500),
            Pos("S02", 800),
            Pos("S03", 300),
            Pos("S04", 1000),
            Pos("S05", 400),
            Pos("GAPA", 600),
            Pos("SPY", 100),
        ),
    ),
    "LS": (
        400_000.0,  # includes the short proceeds
        0.043,
        (
            Pos("S06", 1500),
            Pos("S07", 1000),
            Pos("GAPB", 800),
            Pos("S08", -1200),
            Pos("IWM", -300),
        ),
    ),
    "OPT": (
        50_000.0,
        0.045,
        (
            Pos("S01", 2000),
            _opt("S01", -10, True, 1.05, 120, 0.30),  # covered call: nets against S01
            _opt("SPY", 5, True, 1.0, 200, 0.18),
            _opt("SPY", -8, False, 0.95, 90, 0.21),  # short put
            Pos("S03", 500),
        ),
    ),
    "CALLS": (200_000.0, 0.043, (_opt("SPY", 20, True, 1.02, 150, 0.17),)),
    "LATEHOLD": (10_000.0, 0.043, (Pos("LATE", 1000), Pos("S04", 500))),
    "UNKNOWN": (5_000.0, 0.043, (Pos("S01", 100), Pos("ZZZZ", 50))),
    "MISC": (
        20_000.0,
        0.043,
        (
            Pos("S05", 300),
            _opt("S05", 3, False, 0.9, 60),  # no implied vol stored
            _opt("S06", 2, True, 0.9, 0, 0.25),  # expires on T (years = 0)
        ),
    ),
}
#: Sector of each priced asset (an option takes its underlying's); the rest are unknown.
SECTORS = {
    "S01": "Technology",
    "S02": "Technology",
    "S03": "Health Care",
    "S04": "Utilities",
    "S05": "Energy",
    "S06": "Technology",
    "S07": "Financials",
    "S08": "Financials",
    "GAPA": "Energy",
    "LATE": "Health Care",
}
IDS = tuple(PORTFOLIOS)
ROW = {pid: i for i, pid in enumerate(IDS)}
VALUED = tuple(p for p in IDS if p != "UNKNOWN")


def make_books(spec: dict[str, tuple[float, float, tuple[Pos, ...]]]) -> Books:
    owners = [(i, pos) for i, (_, _, positions) in enumerate(spec.values()) for pos in positions]
    arr = np.array
    return Books(
        portfolio_ids=np.arange(1, len(spec) + 1, dtype=np.int64),
        cash=arr([cash for cash, _, _ in spec.values()], dtype=np.float64),
        rate=arr([rate for _, rate, _ in spec.values()], dtype=np.float64),
        pos_portfolio=arr([i for i, _ in owners], dtype=np.int64),
        pos_symbol=tuple(p.symbol for _, p in owners),
        pos_asset=tuple(p.asset for _, p in owners),
        quantity=arr([p.quantity for _, p in owners], dtype=np.float64),
        is_option=arr([p.underlying is not None for _, p in owners], dtype=bool),
        multiplier=arr([100.0 if p.underlying else 1.0 for _, p in owners], dtype=np.float64),
        strike=arr([p.strike for _, p in owners], dtype=np.float64),
        years=arr([p.years for _, p in owners], dtype=np.float64),
        is_call=arr([p.call for _, p in owners], dtype=bool),
        implied_vol=arr([p.iv for _, p in owners], dtype=np.float64),
        dividend_yield=arr([p.q for _, p in owners], dtype=np.float64),
        sector=tuple(SECTORS.get(p.asset) for _, p in owners),
    )


def subset(books: Books, keep: int) -> Books:
    mask = books.pos_portfolio == keep
    pick = np.flatnonzero(mask)
    return Books(
        portfolio_ids=books.portfolio_ids[[keep]],
        cash=books.cash[[keep]],
        rate=books.rate[[keep]],
        pos_portfolio=np.zeros(pick.size, dtype=np.int64),
        pos_symbol=tuple(books.pos_symbol[i] for i in pick),
        pos_asset=tuple(books.pos_asset[i] for i in pick),
        quantity=books.quantity[mask],
        is_option=books.is_option[mask],
        multiplier=books.multiplier[mask],
        strike=books.strike[mask],
        years=books.years[mask],
        is_call=books.is_call[mask],
        implied_vol=books.implied_vol[mask],
        dividend_yield=books.dividend_yield[mask],
        sector=tuple(books.sector[i] for i in pick),
    )


def _shocks(**values: float) -> np.ndarray:
    return np.array([values.get(f, 0.0) for f in FACTORS], dtype=np.float64)


EQUITY_CRASH = _shocks(
    SPY=-0.10, VTV=-0.09, VUG=-0.12, MTUM=-0.11, QUAL=-0.09, IWM=-0.13, USMV=-0.07
)
STAGFLATION = _shocks(
    SPY=-0.05, VTV=-0.02, VUG=-0.08, MTUM=-0.04, QUAL=-0.03, IWM=-0.06, USMV=-0.02
)
SPY_ONLY = -0.07
SCENARIOS = (
    Scenario("equity_crash", EQUITY_CRASH),
    Scenario("stagflation", STAGFLATION, rate_pp=0.75),
    Scenario("spy_only", _shocks(SPY=SPY_ONLY)),
    # a library scenario with a reserved name yields to the built-in single-factor move
    Scenario("market_up_10", np.full(len(FACTORS), 0.5)),
)
BOOKS = make_books(PORTFOLIOS)
MARKET: Market = prepare_market(PANEL)
RESULT: BookResults = compute_books(MARKET, BOOKS, SCENARIOS)


def stress(pid: str, name: str, result: BookResults = RESULT, full: bool = False) -> float:
    table = result.stress_full if full else result.stress_linear
    return float(table[ROW[pid], result.stress_names.index(name)])


def rows_of(pid: str, books: Books = BOOKS) -> np.ndarray:
    return np.flatnonzero(books.pos_portfolio == ROW[pid])


# ------------------------------------------------------------------ independent references


def quiet(function: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(*args, **kwargs))


@cache
def qs() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats.stats as module
    return module


def realised_vol(symbol: str) -> float:
    """252-day realised vol of the underlying (the engine's implied-vol substitute)."""
    return float(empyrical.annual_volatility(RETURNS[symbol].dropna().iloc[-252:]))


def vollib(pos: Pos, spot: float, rate: float, vol: float) -> dict[str, float]:
    """py_vollib price and desk greeks (vega/rho per 1 %, theta per calendar day)."""
    flag = "c" if pos.call else "p"
    args = (flag, spot, pos.strike, pos.years, rate, vol, pos.q)
    return {
        "price": float(black_scholes_merton(*args)),
        "delta": float(vollib_greeks.delta(*args)),
        "gamma": float(vollib_greeks.gamma(*args)),
        "vega_per_1pct_vol": float(vollib_greeks.vega(*args)),
        "theta_per_calendar_day": float(vollib_greeks.theta(*args)),
        "rho_per_1pct_rate": float(vollib_greeks.rho(*args)),
    }


def option_vol(pos: Pos) -> float:
    return pos.iv if not math.isnan(pos.iv) else realised_vol(pos.asset)


def price_delta(pos: Pos, rate: float, spot: float | None = None) -> tuple[float, float]:
    """Per-share option price and delta: BSM while live, intrinsic value once expired."""
    s = float(SPOT[pos.asset]) if spot is None else spot
    if pos.years <= 0:
        payoff = s - pos.strike if pos.call else pos.strike - s
        exercise = (
            (1.0 if s > pos.strike else 0.0) if pos.call else (-1.0 if s < pos.strike else 0.0)
        )
        return max(payoff, 0.0), exercise
    ref = vollib(pos, s, rate, option_vol(pos))
    return ref["price"], ref["delta"]


@dataclasses.dataclass(frozen=True)
class RefBook:
    nav: float
    stock_mv: float
    option_mv: float
    long_mv: float
    short_mv: float
    gross: float
    net: float
    mv: tuple[float, ...]
    exposure: tuple[float, ...]
    weights: pd.Series  # per asset (stock and its options net), exposure / NAV
    rp: pd.Series  # today's book over the history, rows with a NaN held return dropped


@cache
def ref_book(pid: str) -> RefBook:
    cash, rate, positions = PORTFOLIOS[pid]
    mv: list[float] = []
    exposure: list[float] = []
    for pos in positions:
        spot = float(SPOT[pos.asset])
        if pos.underlying is None:
            mv.append(pos.quantity * spot)
            exposure.append(pos.quantity * spot)
        else:
            price, delta = price_delta(pos, rate)
            mv.append(price * 100 * pos.quantity)
            exposure.append(delta * 100 * pos.quantity * spot)  # delta equivalent (C6)
    is_opt = [p.underlying is not None for p in positions]
    stock_mv = sum(v for v, o in zip(mv, is_opt, strict=True) if not o)
    option_mv = sum(v for v, o in zip(mv, is_opt, strict=True) if o)
    nav = cash + stock_mv + option_mv  # C7
    per_asset = pd.Series(exposure, index=[p.asset for p in positions]).groupby(level=0).sum()
    weights = per_asset / nav
    held = RETURNS[list(weights.index)]
    rp = (held @ weights)[held.notna().all(axis=1)]
    return RefBook(
        nav=nav,
        stock_mv=stock_mv,
        option_mv=option_mv,
        long_mv=sum(v for v in mv if v > 0),
        short_mv=sum(v for v in mv if v < 0),
        gross=float(per_asset.abs().sum()),
        net=sum(exposure),
        mv=tuple(mv),
        exposure=tuple(exposure),
        weights=weights,
        rp=rp,
    )


def ref_risk(r: pd.Series) -> dict[str, float]:
    out = {"n_obs": float(r.size), "ann_vol": float(empyrical.annual_volatility(r))}
    for tag, alpha in (("95", 0.05), ("99", 0.01)):
        out[f"hist_var_{tag}"] = -float(empyrical.value_at_risk(r, cutoff=alpha))
        out[f"param_var_{tag}"] = -quiet(qs().value_at_risk, r, confidence=1 - alpha)
        out[f"cvar_{tag}"] = -float(empyrical.conditional_value_at_risk(r, cutoff=alpha))
    return out


def ols(y: pd.Series, x: pd.DataFrame | pd.Series) -> Any:
    return OLS(y.to_numpy(), add_constant(x.to_numpy()), missing="drop").fit()


def ref_beta_spy(pid: str, window: int | None = None) -> float:
    rp = ref_book(pid).rp
    rp = rp.iloc[-window:] if window else rp
    return float(ols(rp, RETURNS["SPY"].loc[rp.index]).params[1])


@cache
def ref_factor_fit(pid: str) -> Any:
    factors = RETURNS[list(FACTORS)]
    window = factors.index[factors.notna().all(axis=1)][-150:]
    y = ref_book(pid).rp.reindex(window)
    keep = y.notna()
    return OLS(y[keep].to_numpy(), add_constant(factors.loc[window][keep].to_numpy())).fit()


def ref_rate_beta(pid: str) -> float:
    rp = ref_book(pid).rp
    return float(ols(rp, DY.loc[rp.index]).params[1])


# ------------------------------------------------------------------ 0. the synthetic data


def test_synthetic_panel_has_the_intended_gaps():
    assert len(DATES) == N_SESSIONS
    assert FILLED["GAPA"].notna().all()  # 3-session gap filled
    assert RETURNS["GAPB"].isna().sum() == 4  # 8-session gap: 3 unfilled prices, 4 returns
    assert RETURNS["LATE"].notna().sum() == N_SESSIONS - 1 - LATE_LISTING
    assert RETURNS[list(FACTORS)].notna().all().all()
    assert np.isnan(PANEL.rate_pp[:FIRST_PRINT]).all()
    assert np.isnan(PANEL.rate_pp).sum() == FIRST_PRINT + len(DGS10_MISSING)
    assert RETURNS[list(FACTORS)].corr()["SPY"].min() > 0.9


def test_dgs10_change_is_joined_as_of():
    # C12: forward-filled on weekdays, sampled on sessions, differenced (pp)
    np.testing.assert_allclose(MARKET.dy, DY.to_numpy(), rtol=0, atol=1e-12, equal_nan=True)


# ------------------------------------------------------------------ 1. valuation


@pytest.mark.parametrize("pid", VALUED)
def test_valuation_by_hand(pid):
    ref = ref_book(pid)
    p = ROW[pid]
    v = RESULT.valuation
    assert v["nav"][p] == pytest.approx(ref.nav, abs=USD)
    assert v["cash"][p] == PORTFOLIOS[pid][0]
    assert v["stock_market_value"][p] == pytest.approx(ref.stock_mv, abs=USD)
    assert v["option_market_value"][p] == pytest.approx(ref.option_mv, abs=USD)
    assert v["long_mv"][p] == pytest.approx(ref.long_mv, abs=USD)
    assert v["short_mv"][p] == pytest.approx(ref.short_mv, abs=USD)
    assert v["gross_exposure"][p] == pytest.approx(ref.gross, abs=USD)
    assert v["net_exposure"][p] == pytest.approx(ref.net, abs=USD)
    assert v["gross_leverage"][p] == pytest.approx(ref.gross / ref.nav, rel=1e-9)
    assert v["net_leverage"][p] == pytest.approx(ref.net / ref.nav, rel=1e-9)
    rows = rows_of(pid)
    np.testing.assert_allclose(RESULT.positions["market_value"][rows], ref.mv, rtol=0, atol=USD)
    np.testing.assert_allclose(RESULT.positions["exposure"][rows], ref.exposure, rtol=0, atol=USD)
    np.testing.assert_allclose(
        RESULT.positions["weight"][rows], np.array(ref.exposure) / ref.nav, rtol=1e-9
    )


def test_gross_nets_a_stock_against_its_options():
    ref = ref_book("OPT")
    rows = rows_of("OPT")
    exposure = RESULT.positions["exposure"][rows]
    assert RESULT.valuation["gross_exposure"][ROW["OPT"]] < np.abs(exposure).sum() - 1.0
    # S01 stock + short S01 call; SPY call + SPY short put; S03
    by_asset = {
        "S01": exposure[0] + exposure[1],
        "SPY": exposure[2] + exposure[3],
        "S03": exposure[4],
    }
    assert RESULT.valuation["gross_exposure"][ROW["OPT"]] == pytest.approx(
        sum(abs(x) for x in by_asset.values()), abs=USD
    )
    assert ref.gross == pytest.approx(sum(abs(x) for x in by_asset.values()), abs=USD)


def test_short_book_has_negative_short_mv_and_cash_with_proceeds():
    v = RESULT.valuation
    p = ROW["LS"]
    assert v["short_mv"][p] < 0 < v["long_mv"][p]
    assert v["net_exposure"][p] == pytest.approx(v["long_mv"][p] + v["short_mv"][p], abs=USD)
    assert v["gross_exposure"][p] == pytest.approx(v["long_mv"][p] - v["short_mv"][p], abs=USD)


# ------------------------------------------------------------------ 2. return-based figures


@pytest.mark.parametrize("pid", VALUED)
def test_return_series_risk_figures_match_empyrical_and_quantstats(pid):
    ref = ref_book(pid)
    p = ROW[pid]
    for label, series in (("full", ref.rp), ("252d", ref.rp.iloc[-252:])):
        expected = ref_risk(series)
        block = RESULT.risk[label]
        assert block["n_obs"][p] == expected["n_obs"], label
        for key, value in expected.items():
            assert block[key][p] == pytest.approx(value, rel=REL), (label, key)
    doc = headline(RESULT, p, external_id=pid, as_of=T, run_id="r", data_as_of=T, factors=FACTORS)
    for key in ("hist_var_95", "param_var_99", "cvar_95"):
        currency = doc["risk"]["full"][key]["currency"]
        assert currency == pytest.approx(ref_risk(ref.rp)[key] * ref.nav, abs=USD)


@pytest.mark.parametrize("pid", VALUED)
def test_performance_matches_empyrical(pid):
    r = ref_book(pid).rp
    p = ROW[pid]
    perf = RESULT.performance
    assert perf["max_drawdown"][p] == pytest.approx(-empyrical.max_drawdown(r), rel=REL)
    assert perf["sharpe"][p] == pytest.approx(empyrical.sharpe_ratio(r, risk_free=0), rel=REL)
    assert perf["sortino"][p] == pytest.approx(
        empyrical.sortino_ratio(r, required_return=0), rel=REL
    )
    assert perf["cumulative_return"][p] == pytest.approx(empyrical.cum_returns_final(r), rel=REL)


@pytest.mark.parametrize("pid", VALUED)
def test_beta_spy_matches_statsmodels(pid):
    p = ROW[pid]
    assert RESULT.beta_spy["full"][p] == pytest.approx(ref_beta_spy(pid), abs=OLS_ABS)
    assert RESULT.beta_spy["150d"][p] == pytest.approx(ref_beta_spy(pid, 150), abs=OLS_ABS)


@pytest.mark.parametrize("pid", VALUED)
def test_factor_exposures_match_statsmodels(pid):
    fit = ref_factor_fit(pid)
    p = ROW[pid]
    assert RESULT.factor_n_obs[p] == fit.nobs
    np.testing.assert_allclose(RESULT.factor_betas[p], fit.params[1:], rtol=0, atol=OLS_ABS)
    assert RESULT.factor_alpha[p] == pytest.approx(fit.params[0], abs=OLS_ABS)
    assert RESULT.factor_r2[p] == pytest.approx(fit.rsquared, abs=OLS_ABS)
    doc = headline(RESULT, p, external_id=pid, as_of=T, run_id="r", data_as_of=T, factors=FACTORS)
    assert list(doc["factor_exposures"]["betas"]) == list(FACTORS)
    assert doc["factor_exposures"]["window"] == 150


@pytest.mark.parametrize("pid", VALUED)
def test_rate_sensitivity_matches_statsmodels(pid):
    b = ref_rate_beta(pid)
    nav = ref_book(pid).nav
    p = ROW[pid]
    assert RESULT.rate["rate_beta_per_pp"][p] == pytest.approx(b, abs=OLS_ABS)
    assert RESULT.rate["duration_years"][p] == pytest.approx(-100.0 * b, abs=100 * OLS_ABS)
    assert RESULT.rate["dv01"][p] == pytest.approx(b * 0.01 * nav, abs=USD)


@pytest.mark.parametrize("pid", VALUED)
def test_linear_stress_matches_reference_betas(pid):
    nav = ref_book(pid).nav
    betas = ref_factor_fit(pid).params[1:]
    beta_150 = ref_beta_spy(pid, 150)
    b = ref_rate_beta(pid)
    assert stress(pid, "equity_crash") == pytest.approx(nav * betas @ EQUITY_CRASH, abs=USD)
    assert stress(pid, "stagflation") == pytest.approx(
        nav * (betas @ STAGFLATION + b * 0.75), abs=USD
    )
    for size in (5, 10, 20):
        for sign, word in ((1, "up"), (-1, "down")):
            expected = beta_150 * sign * size / 100 * nav
            assert stress(pid, f"market_{word}_{size}") == pytest.approx(expected, abs=USD)
    for bp in (50, 100):
        for sign, word in ((1, "up"), (-1, "down")):
            expected = b * sign * bp / 100 * nav
            assert stress(pid, f"rates_{word}_{bp}bp") == pytest.approx(expected, abs=USD)


# ------------------------------------------------------------------ 3. invariants


def test_stress_names_are_unique_and_reserved_names_use_the_builtin_move():
    names = RESULT.stress_names
    assert len(names) == len(set(names))
    assert {"equity_crash", "stagflation", "spy_only", "market_up_10", "rates_down_50bp"} <= set(
        names
    )
    assert len(names) == 3 + 6 + 4


@pytest.mark.parametrize("pid", VALUED)
def test_market_and_rate_moves_use_beta_150_and_rate_beta(pid):
    p = ROW[pid]
    nav = RESULT.valuation["nav"][p]
    assert stress(pid, "market_up_10") == pytest.approx(
        RESULT.beta_spy["150d"][p] * 0.10 * nav, rel=1e-12
    )
    assert stress(pid, "rates_up_100bp") == pytest.approx(
        RESULT.rate["rate_beta_per_pp"][p] * 1.0 * nav, rel=1e-12
    )


@pytest.mark.parametrize("pid", VALUED)
def test_spy_only_scenario_uses_the_raw_spy_factor_beta(pid):
    p = ROW[pid]
    expected = RESULT.valuation["nav"][p] * RESULT.factor_betas[p, 0] * SPY_ONLY
    assert stress(pid, "spy_only") == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("pid", VALUED)
def test_portfolio_factor_betas_are_weighted_position_betas(pid):
    rows = rows_of(pid)
    weights = RESULT.positions["weight"][rows]
    combined = weights @ RESULT.position_factor_betas[rows]
    np.testing.assert_allclose(combined, RESULT.factor_betas[ROW[pid]], rtol=0, atol=1e-10)


def test_full_data_position_betas_are_the_assets_own_statsmodels_betas():
    factors = RETURNS[list(FACTORS)].iloc[-150:]
    for i in rows_of("LONG"):
        asset = BOOKS.pos_asset[i]
        fit = OLS(RETURNS[asset].iloc[-150:].to_numpy(), add_constant(factors.to_numpy())).fit()
        np.testing.assert_allclose(
            RESULT.position_factor_betas[i], fit.params[1:], rtol=0, atol=OLS_ABS
        )


@pytest.mark.parametrize(
    "pid",
    list(VALUED),
)
def test_position_stress_sums_to_portfolio_stress(pid):
    rows = rows_of(pid)
    by_position = RESULT.position_stress[rows].sum(axis=0)
    np.testing.assert_allclose(by_position, RESULT.stress_linear[ROW[pid]], rtol=1e-9, atol=USD)


@pytest.mark.parametrize("pid", ["LONG", "LS", "OPT"])
def test_var_scales_with_leverage(pid):
    cash, rate, positions = PORTFOLIOS[pid]
    double = {
        pid: (
            2 * cash,
            rate,
            tuple(dataclasses.replace(x, quantity=2 * x.quantity) for x in positions),
        )
    }
    levered = {
        pid: (cash, rate, tuple(dataclasses.replace(x, quantity=2 * x.quantity) for x in positions))
    }
    base_nav = RESULT.valuation["nav"][ROW[pid]]
    both = compute_books(MARKET, make_books(double), SCENARIOS)
    only_qty = compute_books(MARKET, make_books(levered), SCENARIOS)
    # quantities and cash x2: every fraction unchanged, every currency figure doubles
    nav_both = both.valuation["nav"][0]
    assert nav_both == pytest.approx(2 * base_nav, rel=1e-12)
    # quantities x2, cash fixed: r_p' = k r_p with k = 2 NAV / NAV'; currency VaR still doubles
    nav2 = only_qty.valuation["nav"][0]
    k = 2 * base_nav / nav2
    assert k > 1
    for label in ("full", "252d"):
        for key in (
            "ann_vol",
            "hist_var_95",
            "hist_var_99",
            "param_var_95",
            "param_var_99",
            "cvar_95",
            "cvar_99",
        ):
            base = RESULT.risk[label][key][ROW[pid]]
            assert both.risk[label][key][0] == pytest.approx(base, rel=1e-9), (label, key)
            assert both.risk[label][key][0] * nav_both == pytest.approx(
                2 * base * base_nav, rel=1e-9
            )
            assert only_qty.risk[label][key][0] == pytest.approx(k * base, rel=1e-9), (label, key)
            assert only_qty.risk[label][key][0] * nav2 == pytest.approx(
                2 * base * base_nav, rel=1e-9
            )
    np.testing.assert_allclose(both.stress_linear[0], 2 * RESULT.stress_linear[ROW[pid]], rtol=1e-9)
    np.testing.assert_allclose(
        only_qty.stress_linear[0], 2 * RESULT.stress_linear[ROW[pid]], rtol=1e-9
    )


@pytest.mark.parametrize("pid", VALUED)
def test_expected_shortfall_is_at_least_var(pid):
    p = ROW[pid]
    for block in RESULT.risk.values():
        for tag in ("95", "99"):
            assert block[f"cvar_{tag}"][p] >= block[f"hist_var_{tag}"][p]
        assert block["hist_var_99"][p] >= block["hist_var_95"][p]


@pytest.mark.parametrize("pid", ["LONG", "LS", "LATEHOLD"])
def test_no_full_revaluation_without_options(pid):
    p = ROW[pid]
    assert not RESULT.has_options[p]
    assert np.isnan(RESULT.stress_full[p]).all()
    doc = headline(RESULT, p, external_id=pid, as_of=T, run_id="r", data_as_of=T, factors=FACTORS)
    assert "stress_full_revaluation" not in doc


def _move(asset: str, name: str) -> float:
    """The underlying's move in a scenario: its factor/market/rate betas times the shocks."""
    i = BOOKS.pos_asset.index(asset)
    j = MARKET.index[asset]
    if name.startswith("market_"):
        word, size = name.split("_")[1:]
        return float(MARKET.sym_beta_150[j]) * (1 if word == "up" else -1) * int(size) / 100
    if name.startswith("rates_"):
        word, bp = name.split("_")[1:]
        return float(MARKET.sym_rate_beta[j]) * (1 if word == "up" else -1) * int(bp[:-2]) / 100
    scenario = next(s for s in SCENARIOS if s.name == name)
    move = float(RESULT.position_factor_betas[i] @ scenario.shocks)
    return move + float(MARKET.sym_rate_beta[j]) * scenario.rate_pp


@pytest.mark.parametrize("pid", ["OPT", "CALLS"])
def test_full_revaluation_reprices_options_with_py_vollib(pid):
    _, rate, positions = PORTFOLIOS[pid]
    p = ROW[pid]
    assert RESULT.has_options[p]
    rows = rows_of(pid)
    for j, name in enumerate(RESULT.stress_names):
        expected = 0.0
        for i, pos in zip(rows, positions, strict=True):
            if pos.underlying is None:
                expected += float(RESULT.position_stress[i, j])
                continue
            spot = float(SPOT[pos.asset])
            moved = spot * (1 + _move(pos.asset, name))
            now, _ = price_delta(pos, rate)
            after, _ = price_delta(pos, rate, moved)
            expected += 100 * pos.quantity * (after - now)
        assert RESULT.stress_full[p, j] == pytest.approx(expected, abs=USD), name


def test_long_calls_full_revaluation_is_convex():
    linear = RESULT.stress_linear[ROW["CALLS"]]
    full = RESULT.stress_full[ROW["CALLS"]]
    for name in (
        "market_up_20",
        "market_down_20",
        "market_up_10",
        "market_down_10",
        "equity_crash",
    ):
        j = RESULT.stress_names.index(name)
        assert full[j] > linear[j], name
    # a SPY-call book's 150-day beta is its SPY weight, so the linear move is exposure x shock
    exposure = RESULT.positions["exposure"][rows_of("CALLS")[0]]
    assert stress("CALLS", "market_down_20") == pytest.approx(-0.2 * exposure, abs=USD)


# ------------------------------------------------------------------ 4. option greeks


OPTION_ROWS = [
    (pid, i, pos)
    for pid in ("OPT", "CALLS", "MISC")
    for i, pos in zip(rows_of(pid), PORTFOLIOS[pid][2], strict=True)
    if pos.underlying is not None and pos.days > 0
]


@pytest.mark.parametrize(("pid", "i", "pos"), OPTION_ROWS, ids=[r[2].symbol for r in OPTION_ROWS])
def test_option_price_and_greeks_match_py_vollib(pid, i, pos):
    rate = PORTFOLIOS[pid][1]
    spot = float(SPOT[pos.asset])
    ref = vollib(pos, spot, rate, option_vol(pos))
    assert RESULT.positions["price"][i] == pytest.approx(ref["price"], rel=REL)
    assert RESULT.positions["vol"][i] == pytest.approx(option_vol(pos), rel=1e-12)
    greeks = RESULT.position_greeks
    for key, value in ref.items():
        if key != "price":
            assert greeks[key][i] == pytest.approx(value, rel=REL), key
    shares = 100 * pos.quantity
    assert greeks["delta_dollars"][i] == pytest.approx(ref["delta"] * shares * spot, rel=REL)
    assert greeks["gamma_shares_per_1usd"][i] == pytest.approx(ref["gamma"] * shares, rel=REL)
    for desk, position in (
        ("vega_per_1pct_vol", "vega_usd_per_1pct_vol"),
        ("theta_per_calendar_day", "theta_usd_per_calendar_day"),
        ("rho_per_1pct_rate", "rho_usd_per_1pct_rate"),
    ):
        assert greeks[position][i] == pytest.approx(ref[desk] * shares, rel=REL), position
    assert RESULT.positions["exposure"][i] == pytest.approx(greeks["delta_dollars"][i], rel=1e-12)


def test_short_put_greek_signs():
    i = rows_of("OPT")[3]
    assert BOOKS.quantity[i] < 0 and not BOOKS.is_call[i]
    g = RESULT.position_greeks
    assert g["delta"][i] < 0  # per share, a put
    assert g["delta_dollars"][i] > 0  # short put: long the underlying
    assert g["gamma_shares_per_1usd"][i] < 0
    assert g["vega_usd_per_1pct_vol"][i] < 0
    assert g["theta_usd_per_calendar_day"][i] > 0
    assert RESULT.positions["market_value"][i] < 0


def test_stock_positions_have_no_greeks():
    stocks = np.flatnonzero(~BOOKS.is_option)
    for values in RESULT.position_greeks.values():
        assert np.isnan(values[stocks]).all()


# ------------------------------------------------------------------ 5. missing data


def test_unknown_symbol_gives_nan_figures_and_a_warning():
    p = ROW["UNKNOWN"]
    v = RESULT.valuation
    for key in ("nav", "stock_market_value", "gross_exposure", "net_exposure"):
        assert np.isnan(v[key][p]), key
    assert v["cash"][p] == 5_000.0
    for key in ("gross_leverage", "net_leverage", "daily_pnl", "daily_return"):
        assert np.isnan(v[key][p]), key
    for block in RESULT.risk.values():
        for key, values in block.items():
            if key != "n_obs":
                assert np.isnan(values[p]), key
    assert np.isnan(RESULT.beta_spy["full"][p]) and np.isnan(RESULT.beta_spy["150d"][p])
    assert np.isnan(RESULT.factor_betas[p]).all()
    for values in (*RESULT.rate.values(), *RESULT.performance.values()):
        assert np.isnan(values[p])
    assert np.isnan(RESULT.stress_linear[p]).all()
    rows = rows_of("UNKNOWN")
    assert np.isnan(RESULT.positions["weight"][rows]).all()
    assert np.isnan(RESULT.positions["market_value"][rows[1]])
    assert any("ZZZZ" in w for w in RESULT.warnings[p])
    assert not any("ZZZZ" in w for q, ws in enumerate(RESULT.warnings) if q != p for w in ws)


def test_unknown_symbol_makes_long_and_short_mv_nan():
    p = ROW["UNKNOWN"]
    assert np.isnan(RESULT.valuation["long_mv"][p])
    assert np.isnan(RESULT.valuation["short_mv"][p])


def test_headline_turns_nan_into_none_and_is_strict_json():
    p = ROW["UNKNOWN"]
    doc = headline(
        RESULT, p, external_id="UNKNOWN", as_of=T, run_id="r", data_as_of=T, factors=FACTORS
    )
    json.dumps(doc, allow_nan=False)
    assert doc["valuation"]["nav"] is None
    assert doc["valuation"]["cash"] == 5_000.0
    assert doc["risk"]["full"]["hist_var_95"] == {"fraction": None, "currency": None}
    assert doc["rate_sensitivity"]["dv01"] is None
    assert all(v is None for v in doc["factor_exposures"]["betas"].values())
    assert all(s == {"return_impact": None, "pnl": None} for s in doc["stress"].values())
    assert any("ZZZZ" in w for w in doc["warnings"])
    assert doc["conventions"] == CONVENTIONS
    for pid in IDS:  # every document is strict JSON
        json.dumps(
            headline(
                RESULT,
                ROW[pid],
                external_id=pid,
                as_of=T,
                run_id="r",
                data_as_of=T,
                factors=FACTORS,
            ),
            allow_nan=False,
        )


def test_late_listing_uses_only_returns_after_listing():
    p = ROW["LATEHOLD"]
    n_after = N_SESSIONS - 1 - LATE_LISTING
    assert ref_book("LATEHOLD").rp.size == n_after
    assert RESULT.risk["full"]["n_obs"][p] == n_after
    assert RESULT.risk["252d"]["n_obs"][p] == n_after  # fewer than 252 exist
    assert RESULT.risk["full"]["hist_var_95"][p] == pytest.approx(
        RESULT.risk["252d"]["hist_var_95"][p], rel=1e-12
    )
    assert any(str(n_after) in w and "252" in w for w in RESULT.warnings[p])
    assert not any("daily returns" in w for w in RESULT.warnings[ROW["LONG"]])


def test_option_without_implied_vol_uses_realised_vol_and_warns():
    i = rows_of("MISC")[1]
    vol = realised_vol("S05")
    assert RESULT.positions["vol"][i] == pytest.approx(vol, rel=REL)
    symbol = BOOKS.pos_symbol[i]
    assert any(symbol in w and "realised vol" in w for w in RESULT.warnings[ROW["MISC"]])


def test_expired_option_is_warned_and_at_intrinsic_value():
    i = rows_of("MISC")[2]
    pos = PORTFOLIOS["MISC"][2][2]
    assert BOOKS.years[i] <= 0
    intrinsic = max(float(SPOT["S06"]) - pos.strike, 0.0)
    assert intrinsic > 0
    assert RESULT.positions["price"][i] == pytest.approx(intrinsic, rel=1e-12)
    assert RESULT.positions["market_value"][i] == pytest.approx(intrinsic * 200, abs=USD)
    assert any(BOOKS.pos_symbol[i] in w and "expired" in w for w in RESULT.warnings[ROW["MISC"]])


def test_carried_gaps_are_not_stale_at_valuation():
    # the held assets all print on T: no "carried forward" warning anywhere
    assert not any("carried forward" in w for ws in RESULT.warnings for w in ws)


def test_gap_longer_than_fill_limit_is_flagged():
    assert any("GAPB" in w for w in RESULT.warnings[ROW["LS"]])


# ------------------------------------------------------------------ 6. vectorised chunk


def _flatten(result: BookResults, p: int, rows: np.ndarray) -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(BookResults):
        value = getattr(result, f.name)
        if f.name == "n_portfolios":
            continue
        if f.name in ("positions", "position_greeks", "position_decomposition"):
            for key, arr in value.items():
                yield f"{f.name}.{key}", arr[rows]
        elif f.name in ("position_factor_betas", "position_beta_150", "position_stress"):
            yield f.name, value[rows]
        elif f.name in (
            "valuation",
            "beta_spy",
            "rate",
            "performance",
            "decomposition",
            "factor_split",
            "benchmark",
        ):
            for key, arr in value.items():
                yield f"{f.name}.{key}", arr[p]
        elif f.name == "decomposition_groups":
            for name, groups in value.items():
                span = slice(groups.offsets[p], groups.offsets[p + 1])
                yield f"{f.name}.{name}.labels", groups.labels[span]
                for key, arr in groups.values.items():
                    yield f"{f.name}.{name}.{key}", arr[span]
        elif f.name == "benchmark_symbol":
            yield f.name, value
        elif f.name == "risk":
            for label, block in value.items():
                for key, arr in block.items():
                    yield f"risk.{label}.{key}", arr[p]
        elif f.name in ("correlation", "warnings"):
            yield f.name, value[p]
        elif f.name == "stress_names":
            yield f.name, value
        else:
            yield f.name, value[p]


@pytest.mark.parametrize("pid", IDS)
def test_chunk_equals_each_portfolio_alone(pid):
    p = ROW[pid]
    alone = compute_books(MARKET, subset(BOOKS, p), SCENARIOS)
    assert alone.n_portfolios == 1
    together = dict(_flatten(RESULT, p, rows_of(pid)))
    single = dict(_flatten(alone, 0, np.arange(rows_of(pid).size)))
    assert together.keys() == single.keys()
    for key, value in together.items():
        if key == "correlation":
            symbols, matrix, found = value
            assert single[key][0] == symbols
            np.testing.assert_array_equal(single[key][1], matrix)
            assert single[key][2] == found
        elif key in ("warnings", "stress_names", "benchmark_symbol") or key.endswith(".labels"):
            assert single[key] == value, key
        else:
            np.testing.assert_allclose(
                np.asarray(single[key], dtype=np.float64),
                np.asarray(value, dtype=np.float64),
                rtol=1e-12,
                atol=1e-12,
                equal_nan=True,
                err_msg=key,
            )


def test_full_revaluation_floors_the_underlying_at_zero_instead_of_giving_null():
    crash = Scenario("beyond_zero", np.full(len(FACTORS), -3.0))
    result = compute_books(MARKET, BOOKS, (crash,))
    for pid in ("OPT", "CALLS"):
        p = ROW[pid]
        assert result.has_options[p]
        assert np.isfinite(result.stress_full[p, 0]), pid

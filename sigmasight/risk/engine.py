r"""The nightly risk engine: every figure of RISK-CONVENTIONS.md for many portfolios at once.

Work is split in two so that per-run work happens once:

* :func:`prepare_market` turns the price panel into returns, factor returns, the DGS10
  change series, per-symbol factor/market/rate betas and the correlation matrix: one batched
  least-squares per quantity for the whole universe, one pairwise correlation.
* :func:`compute_books` values a chunk of portfolios and computes their figures with
  matrix products over all portfolios of the chunk (a sparse weight matrix maps symbol
  returns to portfolio returns), never a loop per portfolio per position.

Conventions used (named in each document's ``conventions`` block): simple returns, 252-day
annualisation, forward fill of prices up to 5 sessions, linear quantiles, mean-inclusive
parametric VaR, empyrical's historical CVaR, raw factor betas, univariate rate beta, theta
per calendar day. Options are priced with European BSM at their implied vol (or, when none
is stored, the underlying's 252-day realised vol, with a warning); their exposure is the
delta equivalent added to the underlying.

Missing data never becomes a number: a position that cannot be valued makes the portfolio's
NAV and every figure that depends on it NaN, with a warning naming the position.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from math import ceil

import numpy as np
from scipy import sparse

from sigmasight.risk import stats
from sigmasight.risk.correlation import clusters, pairwise_corr
from sigmasight.risk.decomposition import (
    GroupSums,
    active_risk,
    component_risk,
    factor_variance_split,
    group_sums,
    position_moments,
)
from sigmasight.risk.options import bsm, desk_greeks, position_greeks
from sigmasight.risk.regression import last_window_rows, ols_masked
from sigmasight.risk.returns import ffill_prices, gap_too_long, simple_returns
from sigmasight.risk.types import BoolArray, FloatArray, IntArray

FFILL_LIMIT = 5
VAR_WINDOW = 252
BETA_WINDOW = 150
FACTOR_WINDOW = 150
FACTOR_MIN_SHARE = 0.8
CORR_MIN_OVERLAP = 60
CLUSTER_THRESHOLD = 0.7
ALPHAS = {"95": 0.05, "99": 0.01}
MARKET_MOVES = (5, 10, 20)
RATE_MOVES_BP = (50, 100)
FULL_REVAL_FLOOR = 1e-4
DECOMPOSITION_ALPHA = ALPHAS["95"]
UNKNOWN_SECTOR = "Unknown"

CONVENTIONS = {
    "returns": "simple",
    "annualization": 252,
    "ffill_limit": FFILL_LIMIT,
    "quantile_method": "linear",
    "param_var": "mean",
    "cvar": "historical_empyrical",
    "factor_parametrization": "raw",
    "rate_beta": "univariate",
    "theta": "per_calendar_day",
}


@dataclass(frozen=True)
class Panel:
    """Market data for one run, ending on the valuation date ``dates[-1]``.

    Attributes
    ----------
    dates : tuple of date, length n_dates
        NYSE sessions, ascending.
    symbols : tuple of str, length n_symbols
        Column labels of ``prices``.
    prices : ndarray of shape (n_dates, n_symbols)
        Adjusted closes (NaN = no bar).
    rate_pp : ndarray of shape (n_dates,)
        DGS10 in percent, joined as-of onto the sessions (NaN before the first print).
    factors : tuple of str
        Factor ETF symbols in model order (each must be in ``symbols``).
    benchmark : str
        The market symbol for beta (SPY).
    dividend_factor : ndarray of shape (n_symbols,), optional
        The total-return factor the previous date's price carries for dividends going ex
        on the valuation date (RISK-CONVENTIONS C20); 1 or None where none. An option
        holder gets no dividend, so options are revalued from ``prices[-2] / factor``.
    """

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    prices: FloatArray
    rate_pp: FloatArray
    factors: tuple[str, ...]
    benchmark: str = "SPY"
    dividend_factor: FloatArray | None = None


@dataclass(frozen=True)
class Scenario:
    """A stress scenario: simple-return shocks per factor (model order) and a DGS10 move in pp."""

    name: str
    shocks: FloatArray
    rate_pp: float = 0.0


@dataclass(frozen=True)
class Market:
    """Per-run derived data shared by every chunk (see :func:`prepare_market`)."""

    panel: Panel
    index: dict[str, int]
    filled: FloatArray
    returns: FloatArray
    raw_returns: FloatArray
    price_t: FloatArray
    price_prev: FloatArray
    stale_sessions: IntArray
    dy: FloatArray
    factor_rows: BoolArray
    sym_factor_betas: FloatArray
    sym_beta_150: FloatArray
    sym_rate_beta: FloatArray
    realised_vol: FloatArray
    long_gap: BoolArray
    corr: FloatArray
    corr_index: dict[str, int]
    warnings: tuple[str, ...] = ()
    #: The underlying's previous price an option's day P&L starts from (no dividend in it).
    option_price_prev: FloatArray | None = None


def _asof_fill(values: FloatArray) -> FloatArray:
    """Forward-fill a 1-D series without limit (DGS10 joined as-of, C12); leading NaN stay."""
    series = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(series)
    last = np.where(valid, np.arange(series.size), -1)
    np.maximum.accumulate(last, out=last)
    filled: FloatArray = np.where(last >= 0, series[np.maximum(last, 0)], np.nan)
    return filled


def prepare_market(panel: Panel, corr_symbols: tuple[str, ...] | None = None) -> Market:
    """Returns, betas, realised vols and correlations for the whole universe, once per run.

    Parameters
    ----------
    panel : Panel
        Prices ending on the valuation date.
    corr_symbols : tuple of str, optional
        Symbols whose pairwise correlations are needed (held stocks and option
        underlyings); default all.
    """
    n_dates, n_sym = panel.prices.shape
    index = {s: i for i, s in enumerate(panel.symbols)}
    missing_factors = [f for f in (*panel.factors, panel.benchmark) if f not in index]
    if missing_factors:
        raise ValueError(f"factor/benchmark symbols missing from the panel: {missing_factors}")
    filled = ffill_prices(panel.prices, FFILL_LIMIT)
    returns = simple_returns(filled)
    raw_returns = simple_returns(panel.prices)
    price_t = filled[-1] if n_dates else np.full(n_sym, np.nan)
    price_prev = filled[-2] if n_dates > 1 else np.full(n_sym, np.nan)
    option_price_prev = (
        price_prev / panel.dividend_factor
        if panel.dividend_factor is not None and (panel.dividend_factor != 1.0).any()
        else None
    )
    has_bar = ~np.isnan(panel.prices)
    last_bar = np.where(has_bar.any(axis=0), n_dates - 1 - np.argmax(has_bar[::-1], axis=0), -1)
    stale = np.where(last_bar >= 0, n_dates - 1 - last_bar, -1).astype(np.int64)

    rates = _asof_fill(np.asarray(panel.rate_pp, dtype=np.float64))
    dy = np.diff(rates) if n_dates > 1 else np.empty(0)

    factor_cols = [index[f] for f in panel.factors]
    factor_returns = returns[:, factor_cols]
    factors_ok: BoolArray = np.asarray(~np.isnan(factor_returns).any(axis=1), dtype=bool)
    factor_rows = last_window_rows(factors_ok[:, None], FACTOR_WINDOW)[:, 0]
    min_obs = ceil(FACTOR_MIN_SHARE * FACTOR_WINDOW)
    y_window = np.where(factor_rows[:, None], returns, np.nan)
    # Only slopes are used from the per-symbol fits (betas_only: the same slopes, cheaper).
    sym_factor = ols_masked(
        y_window, np.where(factor_rows[:, None], factor_returns, np.nan), min_obs, betas_only=True
    )

    spy = returns[:, index[panel.benchmark]]
    both = ~np.isnan(returns) & ~np.isnan(spy)[:, None]
    rows_150 = last_window_rows(both, BETA_WINDOW)
    sym_beta_150 = ols_masked(
        np.where(rows_150, returns, np.nan), spy, min_obs=20, betas_only=True
    ).betas[:, 0]
    sym_rate = (
        ols_masked(returns, dy, min_obs=60, betas_only=True).betas[:, 0]
        if dy.size
        else np.full(n_sym, np.nan)
    )

    recent = np.where(last_window_rows(~np.isnan(returns), VAR_WINDOW), returns, np.nan)
    realised_vol = np.asarray(stats.ann_vol(recent), dtype=np.float64).reshape(n_sym)

    wanted = corr_symbols if corr_symbols is not None else panel.symbols
    wanted = tuple(s for s in dict.fromkeys(wanted) if s in index)
    corr, _ = pairwise_corr(raw_returns[:, [index[s] for s in wanted]], CORR_MIN_OVERLAP)
    warnings: list[str] = []
    if factor_rows.sum() < min_obs:
        warnings.append(f"only {int(factor_rows.sum())} sessions with every factor ETF priced")
    return Market(
        panel=panel,
        index=index,
        filled=filled,
        returns=returns,
        raw_returns=raw_returns,
        price_t=price_t,
        price_prev=price_prev,
        stale_sessions=stale,
        dy=dy,
        factor_rows=factor_rows,
        sym_factor_betas=sym_factor.betas,
        sym_beta_150=sym_beta_150,
        sym_rate_beta=sym_rate,
        realised_vol=realised_vol,
        long_gap=gap_too_long(panel.prices[:-1], FFILL_LIMIT)
        if n_dates > 1
        else np.zeros(n_sym, dtype=bool),
        corr=corr,
        corr_index={s: i for i, s in enumerate(wanted)},
        warnings=tuple(warnings),
        option_price_prev=option_price_prev,
    )


@dataclass(frozen=True)
class Books:
    """A chunk of portfolios as flat arrays (one entry per position).

    Attributes
    ----------
    portfolio_ids : ndarray of shape (n_portfolios,)
    cash : ndarray of shape (n_portfolios,)
        In the base currency; includes short proceeds.
    rate : ndarray of shape (n_portfolios,)
        Continuously compounded risk-free rate for option pricing.
    pos_portfolio : ndarray of shape (n_positions,)
        Row of the owning portfolio (0..n_portfolios-1).
    pos_symbol : tuple of str
        The position's own symbol (OCC ticker for options).
    pos_asset : tuple of str
        The priced asset: the stock itself, or the option's underlying.
    quantity : ndarray of shape (n_positions,)
        Signed shares or contracts.
    is_option, multiplier, strike, years, is_call, implied_vol, dividend_yield : ndarray
        Option terms (ignored for stocks; ``implied_vol`` NaN when not stored).
    sector : tuple of (str or None)
        The sector of the priced asset (the underlying's for an option), for the risk
        decomposition by sector; None, or an empty tuple for every position, groups
        under ``"Unknown"``.
    """

    portfolio_ids: IntArray
    cash: FloatArray
    rate: FloatArray
    pos_portfolio: IntArray
    pos_symbol: tuple[str, ...]
    pos_asset: tuple[str, ...]
    quantity: FloatArray
    is_option: BoolArray
    multiplier: FloatArray
    strike: FloatArray
    years: FloatArray
    is_call: BoolArray
    implied_vol: FloatArray
    dividend_yield: FloatArray
    sector: tuple[str | None, ...] = ()


@dataclass
class BookResults:
    """Every figure for a chunk: per-portfolio arrays, per-position arrays, warnings.

    The risk decomposition (RISK-CONVENTIONS.md C22-C26) is ``decomposition`` (per portfolio:
    ``n_obs``, ``sigma_daily``, NaN where it cannot be computed), ``position_decomposition``
    (per position: ``mctr_daily``, ``ctr_daily``, ``param_var_95``, ``cvar_95`` as fractions of
    NAV), ``decomposition_groups`` (``underlying`` and ``sector`` sums: ``ctr_share``,
    ``param_var_95``, ``cvar_95``) and ``factor_split`` (``total_variance``,
    ``systematic_variance``, ``specific_variance``) with ``factor_contributions`` as shares of
    the total variance; ``benchmark`` holds C27 (``tracking_error``, ``information_ratio``,
    ``active_beta``) against ``benchmark_symbol``.
    """

    n_portfolios: int
    valuation: dict[str, FloatArray]
    risk: dict[str, dict[str, FloatArray]]
    beta_spy: dict[str, FloatArray]
    factor_betas: FloatArray
    factor_alpha: FloatArray
    factor_r2: FloatArray
    factor_n_obs: IntArray
    rate: dict[str, FloatArray]
    performance: dict[str, FloatArray]
    stress_names: tuple[str, ...]
    stress_linear: FloatArray
    stress_full: FloatArray
    has_options: BoolArray
    positions: dict[str, FloatArray]
    position_greeks: dict[str, FloatArray]
    position_factor_betas: FloatArray
    position_beta_150: FloatArray
    position_stress: FloatArray
    correlation: list[tuple[list[str], FloatArray, list[list[str]]]]
    decomposition: dict[str, FloatArray]
    position_decomposition: dict[str, FloatArray]
    decomposition_groups: dict[str, GroupSums]
    factor_split: dict[str, FloatArray]
    factor_contributions: FloatArray
    benchmark: dict[str, FloatArray]
    warnings: list[list[str]] = field(default_factory=list)
    benchmark_symbol: str = "SPY"


def _segment_sum(values: FloatArray, groups: IntArray, n: int) -> FloatArray:
    """Sum ``values`` per group; a NaN anywhere in a group makes its sum NaN."""
    out = np.zeros(n)
    np.add.at(out, groups, values)
    return out


def asset_columns(index: Mapping[str, int], assets: Sequence[str]) -> IntArray:
    """Each asset's column in ``index`` (-1 when it has none), looked up in C."""
    return np.fromiter(
        map(index.get, assets, repeat(-1, len(assets))), dtype=np.int64, count=len(assets)
    )


def _value_positions(
    market: Market, books: Books, warnings: list[list[str]]
) -> dict[str, FloatArray]:
    """Prices, market values, exposures and option results per position."""
    asset_idx = asset_columns(market.index, books.pos_asset)
    known = asset_idx >= 0
    spot = np.where(known, market.price_t[np.maximum(asset_idx, 0)], np.nan)
    spot_prev = np.where(known, market.price_prev[np.maximum(asset_idx, 0)], np.nan)
    option_prev = spot_prev
    if market.option_price_prev is not None:
        option_prev = np.where(known, market.option_price_prev[np.maximum(asset_idx, 0)], np.nan)
    stale = np.where(known, market.stale_sessions[np.maximum(asset_idx, 0)], -1)
    for i in np.flatnonzero(~known | np.isnan(spot)):
        p = int(books.pos_portfolio[i])
        why = (
            "no price history"
            if not known[i]
            else f"no price within {FFILL_LIMIT} sessions of the valuation date"
        )
        warnings[p].append(f"{books.pos_symbol[i]}: {why}; position not valued")
    long_gap = np.where(known, market.long_gap[np.maximum(asset_idx, 0)], False)
    for i in np.flatnonzero(long_gap):
        warnings[int(books.pos_portfolio[i])].append(
            f"{books.pos_asset[i]}: a gap of more than {FFILL_LIMIT} sessions in its prices; "
            "the book's returns on those days are left out"
        )
    for i in np.flatnonzero(known & ~np.isnan(spot) & (stale > 0)):
        warnings[int(books.pos_portfolio[i])].append(
            f"{books.pos_asset[i]}: last price is {int(stale[i])} session(s) old (carried forward)"
        )
    vol = books.implied_vol.copy()
    estimated = books.is_option & np.isnan(vol)
    proxy = np.where(known, market.realised_vol[np.maximum(asset_idx, 0)], np.nan)
    vol[estimated] = proxy[estimated]
    for i in np.flatnonzero(estimated):
        warnings[int(books.pos_portfolio[i])].append(
            f"{books.pos_symbol[i]}: no implied vol stored; priced at the underlying's 252-day realised vol "
            f"({proxy[i]:.1%})"
            if not np.isnan(proxy[i])
            else f"{books.pos_symbol[i]}: no implied vol and no realised vol; option not valued"
        )
    for i in np.flatnonzero(books.is_option & (books.years <= 0)):
        warnings[int(books.pos_portfolio[i])].append(
            f"{books.pos_symbol[i]}: expired; valued at intrinsic value"
        )
    rate = books.rate[books.pos_portfolio]
    opt = bsm(spot, books.strike, books.years, rate, books.dividend_yield, vol, books.is_call)
    day_years = 0.0
    if len(market.panel.dates) > 1:
        day_years = (market.panel.dates[-1] - market.panel.dates[-2]).days / 365.0
    opt_prev = bsm(
        option_prev,
        books.strike,
        books.years + day_years,
        rate,
        books.dividend_yield,
        vol,
        books.is_call,
    )
    unit = np.where(books.is_option, opt.price, spot)
    unit_prev = np.where(books.is_option, opt_prev.price, spot_prev)
    size = books.quantity * books.multiplier
    market_value = size * unit
    delta = np.where(books.is_option, opt.delta, 1.0)
    exposure = size * delta * spot
    daily_pnl = size * (unit - unit_prev)
    greeks_desk = desk_greeks(opt)
    greeks_pos = position_greeks(opt, spot, books.multiplier, books.quantity)
    greeks = {**{k: np.where(books.is_option, v, np.nan) for k, v in greeks_desk.items()}}
    for key in (
        "delta_dollars",
        "gamma_shares_per_1usd",
        "vega_usd_per_1pct_vol",
        "theta_usd_per_calendar_day",
        "rho_usd_per_1pct_rate",
    ):
        greeks[key] = np.where(books.is_option, greeks_pos[key], np.nan)
    return {
        "asset_idx": asset_idx.astype(np.float64),
        "spot": spot,
        "price": unit,
        "vol": vol,
        "market_value": market_value,
        "exposure": exposure,
        "daily_pnl": daily_pnl,
        **{f"greek:{k}": v for k, v in greeks.items()},
    }


def _book_series(
    returns: FloatArray,
    asset_idx: IntArray,
    owner: IntArray,
    weight: FloatArray,
    usable: BoolArray,
) -> FloatArray:
    """Each portfolio's return series, static ``weight``s on the ``returns`` rows (n x P)."""
    n_sym, n_p = returns.shape[1], usable.size
    ok_pos = (asset_idx >= 0) & np.isfinite(weight)
    w = sparse.csr_matrix((weight[ok_pos], (asset_idx[ok_pos], owner[ok_pos])), shape=(n_sym, n_p))
    port = np.asarray((w.T @ returns.T).T) if returns.size else np.empty((0, n_p))
    port[:, ~usable] = np.nan
    # A position's asset without a return that day makes the book's return undefined.
    held = sparse.csr_matrix(
        (np.ones(ok_pos.sum()), (asset_idx[ok_pos], owner[ok_pos])), shape=(n_sym, n_p)
    )
    gaps = np.asarray((held.T @ np.isnan(returns).T.astype(np.float64)).T) > 0
    port[gaps] = np.nan
    return port


def window_returns(panel: Panel) -> FloatArray:
    """The return rows ``prepare_market`` derives from ``panel`` (forward-filled, simple)."""
    return simple_returns(ffill_prices(panel.prices, FFILL_LIMIT))


def hist_var_on_window(
    returns: FloatArray,
    symbols: tuple[str, ...],
    books: Books,
    weight: FloatArray,
    alpha: float = 0.05,
) -> FloatArray:
    """Historical VaR (fraction, full window) of the books' ``weight``s over other ``returns``.

    C29's book effect: today's weights on the previous session's window. NaN where a
    portfolio's weights are unknown.
    """
    index = {s: i for i, s in enumerate(symbols)}
    asset_idx = asset_columns(index, books.pos_asset)
    n_p = books.portfolio_ids.size
    usable = np.ones(n_p, dtype=bool)
    bad = books.pos_portfolio[~np.isfinite(weight) | (asset_idx < 0)]
    usable[bad] = False
    port = _book_series(returns, asset_idx, books.pos_portfolio, weight, usable)
    return _arr(stats.hist_var(port, alpha), n_p)


def holding_pnl(market: Market, books: Books) -> FloatArray:
    """Each position's P&L over the market's last session, the book held through it (C28).

    Stocks ``q (P_t - P_{t-1})`` in the panel's adjusted basis; options the change of model
    value with the underlying and time moved (vol and rate as stored). NaN where unvalued.
    """
    warnings: list[list[str]] = [[] for _ in range(books.portfolio_ids.size)]
    return _value_positions(market, books, warnings)["daily_pnl"]


def compute_books(
    market: Market,
    books: Books,
    scenarios: tuple[Scenario, ...],
    *,
    correlations: bool = True,
) -> BookResults:
    """Value the chunk and compute every per-portfolio figure, vectorised across portfolios.

    ``correlations=False`` skips the per-portfolio correlation matrices (position-level
    detail a history run keeps only for recent dates); ``correlation`` is then empty.
    """
    n_p = books.portfolio_ids.size
    n_sym = len(market.panel.symbols)
    warnings: list[list[str]] = [list(market.warnings) for _ in range(n_p)]
    pos = _value_positions(market, books, warnings)
    owner = books.pos_portfolio
    mv, exposure = pos["market_value"], pos["exposure"]

    stock_mv = _segment_sum(np.where(books.is_option, 0.0, mv), owner, n_p)
    option_mv = _segment_sum(np.where(books.is_option, mv, 0.0), owner, n_p)
    nav = books.cash + stock_mv + option_mv
    # An unvalued position (NaN) must make both sums NaN, not drop out of them.
    long_mv = _segment_sum(np.where(np.isnan(mv), np.nan, np.where(mv > 0, mv, 0.0)), owner, n_p)
    short_mv = _segment_sum(np.where(np.isnan(mv), np.nan, np.where(mv < 0, mv, 0.0)), owner, n_p)
    net = _segment_sum(exposure, owner, n_p)
    # Gross nets a stock against the options on it: |sum of exposure per underlying|.
    asset_idx = pos["asset_idx"].astype(np.int64)
    key = owner.astype(np.int64) * (n_sym + 1) + np.where(asset_idx >= 0, asset_idx, n_sym)
    uniq, inverse = np.unique(key, return_inverse=True)
    per_underlying = np.zeros(uniq.size)
    np.add.at(per_underlying, inverse, exposure)
    gross = np.zeros(n_p)
    np.add.at(gross, (uniq // (n_sym + 1)).astype(np.int64), np.abs(per_underlying))
    gross = np.where(np.isnan(net), np.nan, gross)
    usable = np.isfinite(nav) & (nav > 0)
    for p in np.flatnonzero(np.isfinite(nav) & (nav <= 0)):
        warnings[p].append(f"NAV is {nav[p]:,.2f} (not positive): fractions of NAV are undefined")
    safe_nav = np.where(usable, nav, np.nan)
    weight = exposure / safe_nav[owner]
    daily_pnl = _segment_sum(pos["daily_pnl"], owner, n_p)
    valuation = {
        "nav": nav,
        "cash": books.cash.astype(np.float64),
        "long_mv": long_mv,
        "short_mv": short_mv,
        "stock_market_value": stock_mv,
        "option_market_value": option_mv,
        "gross_exposure": gross,
        "net_exposure": net,
        "gross_leverage": gross / safe_nav,
        "net_leverage": net / safe_nav,
        "daily_pnl": daily_pnl,
        "daily_return": daily_pnl / (safe_nav - daily_pnl),
    }

    # Portfolio return series of today's book: R (n x symbols) @ W (symbols x portfolios).
    port = _book_series(market.returns, asset_idx, owner, weight, usable)
    returns = market.returns

    risk: dict[str, dict[str, FloatArray]] = {}
    full_valid = ~np.isnan(port)
    for label, series in (
        ("full", port),
        ("252d", np.where(last_window_rows(full_valid, VAR_WINDOW), port, np.nan)),
    ):
        block: dict[str, FloatArray] = {"n_obs": (~np.isnan(series)).sum(axis=0).astype(np.float64)}
        block["ann_vol"] = _arr(stats.ann_vol(series), n_p)
        for tag, alpha in ALPHAS.items():
            block[f"hist_var_{tag}"] = _arr(stats.hist_var(series, alpha), n_p)
            block[f"param_var_{tag}"] = _arr(stats.param_var(series, alpha), n_p)
            block[f"cvar_{tag}"] = _arr(stats.hist_cvar(series, alpha), n_p)
        risk[label] = block
    n_obs = risk["full"]["n_obs"]
    for p in np.flatnonzero(usable & (n_obs < VAR_WINDOW)):
        warnings[p].append(
            f"only {int(n_obs[p])} daily returns of today's book (fewer than {VAR_WINDOW})"
        )

    spy = market.returns[:, market.index[market.panel.benchmark]] if returns.size else np.empty(0)
    beta_full = (
        ols_masked(port, spy, min_obs=20, betas_only=True).betas[:, 0]
        if port.size
        else np.full(n_p, np.nan)
    )
    both = ~np.isnan(port) & ~np.isnan(spy)[:, None]
    beta_150 = (
        ols_masked(
            np.where(last_window_rows(both, BETA_WINDOW), port, np.nan),
            spy,
            min_obs=20,
            betas_only=True,
        ).betas[:, 0]
        if port.size
        else np.full(n_p, np.nan)
    )

    k = len(market.panel.factors)
    factor_cols = [market.index[f] for f in market.panel.factors]
    fx = np.where(market.factor_rows[:, None], market.returns[:, factor_cols], np.nan)
    min_obs = ceil(FACTOR_MIN_SHARE * FACTOR_WINDOW)
    pf = ols_masked(np.where(market.factor_rows[:, None], port, np.nan), fx, min_obs)
    for p in np.flatnonzero(usable & ~pf.fitted):
        warnings[p].append(
            f"factor exposures and the factor risk split need {min_obs} of the last {FACTOR_WINDOW} "
            f"returns; the book has {int(pf.n_obs[p])}"
        )
    # Position betas: the asset's betas on the same rows as its portfolio (exact additivity).
    pos_betas = np.full((books.quantity.size, k), np.nan)
    known = asset_idx >= 0
    pos_betas[known] = market.sym_factor_betas[asset_idx[known]]
    pos_beta_150 = np.where(known, market.sym_beta_150[np.maximum(asset_idx, 0)], np.nan)
    pos_rate_beta = np.where(known, market.sym_rate_beta[np.maximum(asset_idx, 0)], np.nan)
    # A book with a return gap (late listing, long hole) is estimated on fewer rows than its
    # assets are: refit its positions on the book's own rows so position figures add up.
    for p in np.flatnonzero(usable & np.isnan(port).any(axis=0)):
        rows = ~np.isnan(port[:, p])
        members = np.flatnonzero((owner == p) & known)
        if members.size == 0 or rows.sum() < 3:
            continue
        assets = market.returns[:, asset_idx[members]]
        factor_rows = market.factor_rows & rows
        if pf.fitted[p]:
            pos_betas[members] = ols_masked(
                np.where(factor_rows[:, None], assets, np.nan),
                np.where(factor_rows[:, None], fx, np.nan),
                min_obs,
            ).betas
        beta_rows = last_window_rows((rows & ~np.isnan(spy))[:, None], BETA_WINDOW)[:, 0]
        pos_beta_150[members] = ols_masked(
            np.where(beta_rows[:, None], assets, np.nan), spy, min_obs=20
        ).betas[:, 0]
        if market.dy.size:
            rate_rows = rows & ~np.isnan(market.dy)
            pos_rate_beta[members] = ols_masked(
                np.where(rate_rows[:, None], assets, np.nan), market.dy, min_obs=60
            ).betas[:, 0]

    rate_fit = ols_masked(port, market.dy, min_obs=60, betas_only=True) if market.dy.size else None
    rate_beta = rate_fit.betas[:, 0] if rate_fit is not None else np.full(n_p, np.nan)
    rate = {
        "rate_beta_per_pp": rate_beta,
        "duration_years": -100.0 * rate_beta,
        "dv01": rate_beta * 0.01 * nav,
    }
    performance = {
        "max_drawdown": _arr(stats.max_drawdown(port), n_p),
        "sharpe": _arr(stats.sharpe(port), n_p),
        "sortino": _arr(stats.sortino(port), n_p),
        "cumulative_return": _arr(stats.cumulative_return(port), n_p),
    }
    for values in performance.values():
        values[~usable | (n_obs < 2)] = np.nan

    names, linear, full, pos_stress, has_options = _stress(
        market,
        books,
        pos,
        pf.betas,
        beta_150,
        rate_beta,
        nav,
        pos_betas,
        pos_beta_150,
        pos_rate_beta,
        scenarios,
    )
    correlation = _correlations(market, books, n_p) if correlations else []
    explained = _explain(
        market, books, port, weight, asset_idx, usable, fx, pf.betas, pf.fitted, warnings
    )
    return BookResults(
        n_portfolios=n_p,
        valuation=valuation,
        risk=risk,
        beta_spy={"full": beta_full, "150d": beta_150},
        factor_betas=pf.betas,
        factor_alpha=pf.alpha,
        factor_r2=pf.r2,
        factor_n_obs=pf.n_obs,
        rate=rate,
        performance=performance,
        stress_names=names,
        stress_linear=linear,
        stress_full=full,
        has_options=has_options,
        positions={
            "price": pos["price"],
            "market_value": mv,
            "exposure": exposure,
            "weight": weight,
            "daily_pnl": pos["daily_pnl"],
            "vol": pos["vol"],
        },
        position_greeks={k.split(":", 1)[1]: v for k, v in pos.items() if k.startswith("greek:")},
        position_factor_betas=pos_betas,
        position_beta_150=pos_beta_150,
        position_stress=pos_stress,
        correlation=correlation,
        decomposition=explained.portfolio,
        position_decomposition=explained.positions,
        decomposition_groups=explained.groups,
        factor_split=explained.factor,
        factor_contributions=explained.factor_shares,
        benchmark={**explained.benchmark, "active_beta": beta_full - 1.0},
        warnings=warnings,
        benchmark_symbol=market.panel.benchmark,
    )


@dataclass(frozen=True)
class _Explained:
    portfolio: dict[str, FloatArray]
    positions: dict[str, FloatArray]
    groups: dict[str, GroupSums]
    factor: dict[str, FloatArray]
    factor_shares: FloatArray
    benchmark: dict[str, FloatArray]


def _explain(
    market: Market,
    books: Books,
    port: FloatArray,
    weight: FloatArray,
    asset_idx: IntArray,
    usable: BoolArray,
    factor_returns: FloatArray,
    factor_betas: FloatArray,
    factor_fitted: BoolArray,
    warnings: list[list[str]],
) -> _Explained:
    """Risk decomposition (C22-C26) and benchmark-relative figures (C27) on the book's rows."""
    n_p = port.shape[1]
    n_pos = books.quantity.size
    owner = books.pos_portfolio
    if books.sector and len(books.sector) != n_pos:
        raise ValueError(f"sector has {len(books.sector)} entries for {n_pos} positions")
    n_obs = (~np.isnan(port)).sum(axis=0)
    sigma = _arr(stats.mean_std(port)[1], n_p)
    decomposed = usable & (sigma > 0)
    sigma = np.where(decomposed, sigma, np.nan)
    moments = position_moments(market.returns, port, asset_idx, owner, DECOMPOSITION_ALPHA)
    parts = component_risk(moments, weight, sigma[owner], DECOMPOSITION_ALPHA)
    outside = ~decomposed[owner]
    positions = {
        "mctr_daily": parts.mctr_daily,
        "ctr_daily": parts.ctr_daily,
        "param_var_95": parts.param_var,
        "cvar_95": parts.cvar,
    }
    for values in positions.values():
        values[outside] = np.nan
    shares = {
        "ctr_share": parts.ctr_daily / sigma[owner],
        "param_var_95": parts.param_var,
        "cvar_95": parts.cvar,
    }
    sectors = tuple(s or UNKNOWN_SECTOR for s in books.sector) or (UNKNOWN_SECTOR,) * n_pos
    groups = {
        "underlying": group_sums(owner, books.pos_asset, shares, n_p),
        "sector": group_sums(owner, sectors, shares, n_p),
    }

    rows = market.factor_rows[:, None] & ~np.isnan(port)
    total, systematic, contributions = factor_variance_split(
        port, factor_returns, rows, factor_betas
    )
    split = usable & factor_fitted & (total > 0)
    total = np.where(split, total, np.nan)
    systematic = np.where(split, systematic, np.nan)
    spy = market.returns[:, market.index[market.panel.benchmark]]
    tracking, ratio = active_risk(port, spy)

    for p in np.flatnonzero(usable & ~decomposed):
        warnings[p].append(
            "the risk decomposition needs at least 2 daily returns of today's book; "
            f"it has {int(n_obs[p])}"
            if n_obs[p] < 2
            else "today's book has zero volatility: its risk cannot be decomposed"
        )
    for p in np.flatnonzero(usable & factor_fitted & ~split):
        warnings[p].append(
            "the factor risk split is undefined: the book's returns do not vary over the factor window"
        )
    for p in np.flatnonzero(usable & np.isfinite(tracking) & ~np.isfinite(ratio)):
        warnings[p].append(
            f"information ratio undefined: today's book tracks {market.panel.benchmark} exactly"
        )
    return _Explained(
        portfolio={"n_obs": n_obs.astype(np.float64), "sigma_daily": sigma},
        positions=positions,
        groups=groups,
        factor={
            "total_variance": total,
            "systematic_variance": systematic,
            "specific_variance": total - systematic,
        },
        factor_shares=contributions / total[:, None],
        benchmark={"tracking_error": tracking, "information_ratio": ratio},
    )


def _arr(value: float | FloatArray, n: int) -> FloatArray:
    return np.asarray(value, dtype=np.float64).reshape(n)


def _stress(
    market: Market,
    books: Books,
    pos: dict[str, FloatArray],
    port_betas: FloatArray,
    beta_150: FloatArray,
    rate_beta: FloatArray,
    nav: FloatArray,
    pos_betas: FloatArray,
    pos_beta_150: FloatArray,
    pos_rate_beta: FloatArray,
    scenarios: tuple[Scenario, ...],
) -> tuple[tuple[str, ...], FloatArray, FloatArray, FloatArray, BoolArray]:
    """Linear factor stress for every scenario, plus market and rate moves; full revaluation of options."""
    k = len(market.panel.factors)
    spy_col = (
        market.panel.factors.index(market.panel.benchmark)
        if market.panel.benchmark in market.panel.factors
        else 0
    )
    names: list[str] = []
    shocks: list[FloatArray] = []
    rate_moves: list[float] = []
    beta_kind: list[str] = []
    # The single-factor market and rate moves are defined by FORMATS.md; a library scenario of
    # the same name (the original had market_up_10, rates_up_100bp, ...) yields to them.
    reserved = {f"market_{w}_{n}" for n in MARKET_MOVES for w in ("up", "down")}
    reserved |= {f"rates_{w}_{n}bp" for n in RATE_MOVES_BP for w in ("up", "down")}
    for s in scenarios:
        if s.name in reserved:
            continue
        names.append(s.name)
        shocks.append(np.asarray(s.shocks, dtype=np.float64))
        rate_moves.append(s.rate_pp)
        beta_kind.append("factor")
    for size in MARKET_MOVES:
        for sign, word in ((1, "up"), (-1, "down")):
            vector = np.zeros(k)
            vector[spy_col] = sign * size / 100.0
            names.append(f"market_{word}_{size}")
            shocks.append(vector)
            rate_moves.append(0.0)
            beta_kind.append("market")
    for bp in RATE_MOVES_BP:
        for sign, word in ((1, "up"), (-1, "down")):
            names.append(f"rates_{word}_{bp}bp")
            shocks.append(np.zeros(k))
            rate_moves.append(sign * bp / 100.0)
            beta_kind.append("rate")
    shock = np.vstack(shocks) if shocks else np.zeros((0, k))
    dpp = np.asarray(rate_moves)
    market_only = np.array([kind == "market" for kind in beta_kind])
    owner = books.pos_portfolio
    n_p = nav.size

    # Portfolio linear P&L = NAV x (sum_k beta_k s_k + rate beta x dpp); market moves use beta_150.
    factor_part = np.nan_to_num(port_betas) @ shock.T
    factor_part[np.isnan(port_betas).any(axis=1)] = np.nan
    market_part = beta_150[:, None] * shock[:, spy_col][None, :]
    rate_part = np.where(dpp[None, :] != 0, rate_beta[:, None] * dpp[None, :], 0.0)
    impact = np.where(market_only[None, :], market_part, factor_part + rate_part)
    linear = impact * nav[:, None]

    # Per-position linear P&L (sums to the portfolio figure when betas share rows).
    move_factor = np.nan_to_num(pos_betas) @ shock.T
    move_factor[np.isnan(pos_betas).any(axis=1)] = np.nan
    move_rate = np.where(dpp[None, :] != 0, pos_rate_beta[:, None] * dpp[None, :], 0.0)
    move_market = pos_beta_150[:, None] * shock[:, spy_col][None, :]
    position_moves = np.where(market_only[None, :], move_market, move_factor + move_rate)
    pos_stress = pos["exposure"][:, None] * position_moves

    # Full revaluation: stocks move linearly, options are repriced at the moved underlying.
    has_options = np.zeros(n_p, dtype=bool)
    has_options[owner[books.is_option]] = True
    full = np.full_like(linear, np.nan)
    if books.is_option.any():
        opt = np.flatnonzero(books.is_option)
        # A linear move can exceed -100 % under extreme scenarios; a price cannot go below
        # zero, so the repriced underlying is floored at a hundredth of a percent of spot.
        spot = pos["spot"][opt][:, None] * np.maximum(1.0 + position_moves[opt], FULL_REVAL_FLOOR)
        priced = bsm(
            spot,
            books.strike[opt][:, None],
            books.years[opt][:, None],
            books.rate[owner[opt]][:, None],
            books.dividend_yield[opt][:, None],
            pos["vol"][opt][:, None],
            books.is_call[opt][:, None],
        ).price
        shares = (books.quantity * books.multiplier)[opt][:, None]
        option_pnl = shares * (priced - pos["price"][opt][:, None])
        # Only the portfolios holding options have a full revaluation: their rows alone
        # (about 1 % of a chunk's), in the same order, so each sum is the same.
        rows = np.flatnonzero(has_options[owner])
        revalued = np.where(books.is_option[rows, None], 0.0, pos_stress[rows])
        revalued[np.searchsorted(rows, opt)] = option_pnl
        full_sum = np.zeros((n_p, len(names)))
        np.add.at(full_sum, owner[rows], revalued)
        full = np.where(has_options[:, None], full_sum, np.nan)
    return tuple(names), linear, full, pos_stress, has_options


def _correlations(
    market: Market, books: Books, n_p: int
) -> list[tuple[list[str], FloatArray, list[list[str]]]]:
    """Per portfolio: its symbols (underlyings for options), their correlations (full float64), clusters."""
    out: list[tuple[list[str], FloatArray, list[list[str]]]] = []
    held: list[set[str]] = [set() for _ in range(n_p)]
    index = market.corr_index
    for p, asset in zip(books.pos_portfolio.tolist(), books.pos_asset, strict=True):
        if asset in index:
            held[p].add(asset)
    for found in held:
        symbols = sorted(found)
        idx = [market.corr_index[s] for s in symbols]
        block = market.corr[np.ix_(idx, idx)]
        out.append((symbols, block, clusters(block, symbols, CLUSTER_THRESHOLD)))
    return out

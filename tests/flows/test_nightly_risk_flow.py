"""The nightly-risk flow end to end: imported CSV/JSON data, real Prefect run, real PostgreSQL.

The exported ``sigmasight.risk/1`` numbers are checked against an independent reference
computed here from the same CSV files with pandas, empyrical, statsmodels and py_vollib
(RISK-CONVENTIONS.md tolerances: relative 1e-6, betas absolute 1e-6, currency 0.01).
"""

import datetime as dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from sqlalchemy import text

from cli.main import main
from flows.nightly_risk import nightly_risk
from sigmasight.runs.imports import import_bundle_file, import_prices_file, import_rates_file
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import previous_trading_day, sessions
from tests.dbstate import table_digests

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # py_vollib says "import vollib instead"
    from py_vollib.black_scholes_merton import black_scholes_merton
    from py_vollib.black_scholes_merton.greeks import analytical as bsm_greeks

AS_OF = dt.date(2025, 11, 25)  # D2: the last session of the data
D1 = previous_trading_day(AS_OF)
TODAY = AS_OF + dt.timedelta(days=1)
N_SESSIONS = 300
SESSIONS = sessions(AS_OF - dt.timedelta(days=600), AS_OF)[-N_SESSIONS:]
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
FACTOR_NAMES = ("Market", "Value", "Growth", "Momentum", "Quality", "Size", "LowVol")
STOCKS = ("AAPL", "MSFT", "JPM", "XOM", "NVDA", "NEWCO")
NEWCO_LISTED = 100  # session index of NEWCO's first bar (a late listing)
#: Sessions (by index) with no bar for a symbol: short gaps, and one longer than the fill limit.
GAPS = {
    "AAPL": range(50, 52),
    "JPM": range(120, 127),  # 7 sessions: only the first 5 are forward-filled
    "XOM": range(200, 201),
    "MSFT": range(250, 253),
    "VTV": range(80, 81),
}
RESULT_TABLES = (
    "portfolio_snapshot",
    "position_risk",
    "factor_exposure",
    "correlation_result",
    "stress_result",
)
RISK_KEYS = ("hist_var_95", "hist_var_99", "param_var_95", "param_var_99", "cvar_95", "cvar_99")
GREEK_KEYS = (
    "delta",
    "gamma",
    "vega_per_1pct_vol",
    "theta_per_calendar_day",
    "rho_per_1pct_rate",
    "delta_dollars",
    "gamma_shares_per_1usd",
    "vega_usd_per_1pct_vol",
    "theta_usd_per_calendar_day",
    "rho_usd_per_1pct_rate",
)
RISK_FREE = 0.043
#: Sectors in the bundle's security master (NEWCO and the ETFs have none: "Unknown").
SECTORS = {"AAPL": "Technology", "MSFT": "Technology", "JPM": "Financials", "XOM": "Energy"}
OPTION_EXPIRY = dt.date(2026, 1, 16)
CRASH = {"SPY": -0.10, "VTV": -0.09, "VUG": -0.12, "MTUM": -0.11, "QUAL": -0.09, "IWM": -0.13}


# ---- generated input files ---------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    prices: Path
    rates: Path
    bundle: Path
    options: dict[str, dict[str, Any]]  # OCC ticker -> option terms, as in the bundle


def _generate_prices(rng: np.random.Generator) -> pd.DataFrame:
    n = N_SESSIONS
    market = rng.normal(0.0004, 0.009, n)
    style = {f: rng.normal(0.0, 0.004, n) for f in FACTORS[1:]}
    loadings = {"VTV": 0.9, "VUG": 1.1, "MTUM": 1.05, "QUAL": 0.95, "IWM": 1.2, "USMV": 0.7}
    returns = {"SPY": market}
    returns |= {f: loadings[f] * market + style[f] for f in FACTORS[1:]}
    stock_beta = {"AAPL": 1.1, "MSFT": 1.0, "JPM": 1.2, "XOM": 0.6, "NVDA": 1.8, "NEWCO": 1.4}
    tilt = {"AAPL": "VUG", "MSFT": "QUAL", "JPM": "VTV", "XOM": "USMV", "NVDA": "MTUM"}
    for s in STOCKS:
        r = stock_beta[s] * market + rng.normal(0.0, 0.013, n)
        if s in tilt:
            r = r + 0.8 * style[tilt[s]]
        returns[s] = r
    start = {
        "SPY": 560.0,
        "VTV": 170.0,
        "VUG": 390.0,
        "MTUM": 200.0,
        "QUAL": 175.0,
        "IWM": 220.0,
        "USMV": 90.0,
        "AAPL": 225.0,
        "MSFT": 420.0,
        "JPM": 240.0,
        "XOM": 115.0,
        "NVDA": 140.0,
        "NEWCO": 30.0,
    }
    rows = []
    for symbol, r in returns.items():
        first = NEWCO_LISTED if symbol == "NEWCO" else 0
        growth = np.cumprod(1.0 + r[first + 1 :])
        path = start[symbol] * np.concatenate([[1.0], growth])
        skip = set(GAPS.get(symbol, ()))
        for i, adj in zip(range(first, n), path, strict=True):
            if i in skip:
                continue
            adj = round(float(adj), 4)
            close = round(adj * 1.015, 4)  # unadjusted close: risk must use adj_close
            openp = round(close * (1 + rng.normal(0, 0.003)), 4)
            rows.append(
                {
                    "symbol": symbol,
                    "date": SESSIONS[i].isoformat(),
                    "open": openp,
                    "high": round(max(openp, close) * 1.004, 4),
                    "low": round(min(openp, close) * 0.996, 4),
                    "close": close,
                    "volume": int(rng.integers(100_000, 5_000_000)),
                    "adj_close": adj,
                }
            )
    return pd.DataFrame(rows)


def _generate_rates(rng: np.random.Generator) -> str:
    days = pd.bdate_range(SESSIONS[0] - dt.timedelta(days=14), AS_OF)
    level = 4.2 + np.cumsum(rng.normal(0.0, 0.05, len(days)))
    missing = set(rng.choice(np.arange(5, len(days) - 5), size=12, replace=False).tolist())
    lines = ["date,value"]
    for i, (day, value) in enumerate(zip(days, level, strict=True)):
        lines.append(f"{day.date().isoformat()},{'.' if i in missing else f'{value:.2f}'}")
    return "\n".join(lines) + "\n"


def _occ(underlying: str, expiry: dt.date, right: str, strike: float) -> str:
    return f"O:{underlying}{expiry:%y%m%d}{right[0].upper()}{round(strike * 1000):08d}"


def _sector(symbol: str) -> dict[str, str]:
    return {"sector": SECTORS[symbol]} if symbol in SECTORS else {}


def _bundle(spy_close: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    call_strike = float(5 * round(spy_close * 1.02 / 5))
    put_strike = float(5 * round(spy_close * 0.95 / 5))
    options = {
        _occ("SPY", OPTION_EXPIRY, "call", call_strike): {
            "underlying": "SPY",
            "type": "call",
            "strike": call_strike,
            "expiry": OPTION_EXPIRY.isoformat(),
            "multiplier": 100,
            "implied_vol": 0.165,
            "dividend_yield": 0.0125,
        },
        _occ("SPY", OPTION_EXPIRY, "put", put_strike): {
            "underlying": "SPY",
            "type": "put",
            "strike": put_strike,
            "expiry": OPTION_EXPIRY.isoformat(),
            "multiplier": 100,
            "implied_vol": 0.21,
            "dividend_yield": 0.0125,
        },
    }
    call, put = options
    bundle = {
        "valuation_date": D1.isoformat(),  # the book of D1 is in effect on D1 and AS_OF
        "risk_free_rate": RISK_FREE,
        "benchmark": "SPY",
        "factor_etfs": dict(zip(FACTORS, FACTOR_NAMES, strict=True)),
        "securities": {
            **{s: {"asset_type": "stock", **_sector(s)} for s in STOCKS},
            **{f: {"asset_type": "etf"} for f in FACTORS},
        },
        "portfolios": [
            {
                "id": "LO_CORE",
                "name": "Core long-only",
                "owner": "lo@example.com",
                "cash": 25000.0,
                "positions": [
                    {"symbol": "AAPL", "quantity": 300},
                    {"symbol": "MSFT", "quantity": 200},
                    {"symbol": "JPM", "quantity": 400},
                    {"symbol": "XOM", "quantity": 500},
                ],
            },
            {
                "id": "LS_ALPHA",
                "name": "Long/short",
                "owner": "ls@example.com",
                "cash": 150000.0,
                "positions": [
                    {"symbol": "NVDA", "quantity": 1000},
                    {"symbol": "NEWCO", "quantity": 2500},
                    {"symbol": "AAPL", "quantity": -200},
                    {"symbol": "IWM", "quantity": -300},
                ],
            },
            {
                "id": "OPT_SPY",
                "name": "SPY with options",
                "owner": "opt@example.com",
                "cash": 40000.0,
                "positions": [
                    {"symbol": "SPY", "quantity": 150},
                    {"symbol": "USMV", "quantity": 300},
                    {"symbol": call, "quantity": 10, "option": options[call]},
                    {"symbol": put, "quantity": -6, "option": options[put]},
                ],
            },
        ],
        "stress_scenarios": {"equity_crash": {**CRASH, "USMV": -0.07}},
    }
    return bundle, options


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("nightly_risk")
    rng = np.random.default_rng(20251125)
    prices = _generate_prices(rng)
    prices_path = folder / "prices.csv"
    prices.to_csv(prices_path, index=False)
    rates_path = folder / "dgs10.csv"
    rates_path.write_text(_generate_rates(rng))
    spy_close = float(prices.loc[prices["symbol"] == "SPY", "adj_close"].iloc[-1])
    bundle, options = _bundle(spy_close)
    bundle_path = folder / "bundle.json"
    bundle_path.write_text(json.dumps(bundle, indent=1))
    return Inputs(prices_path, rates_path, bundle_path, options)


def import_all(inputs: Inputs, bundle: Path | None = None) -> None:
    import_prices_file(inputs.prices, today=TODAY)
    import_rates_file(inputs.rates, series="DGS10", today=TODAY)
    import_bundle_file(bundle or inputs.bundle, today=TODAY)


# ---- helpers ---------------------------------------------------------------------------------
def run(**params) -> dict[str, Any]:
    state = nightly_risk(return_state=True, **params)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    return result


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def result_digests(engine) -> dict[str, str]:
    return {k: v for k, v in table_digests(engine).items() if k in RESULT_TABLES}


def export(tmp_path: Path, as_of: dt.date, portfolio: str | None = None) -> Any:
    out = tmp_path / f"risk-{as_of}-{portfolio or 'all'}.json"
    argv = ["export", "risk", "--as-of", as_of.isoformat(), "-o", str(out)]
    if portfolio:
        argv += ["--portfolio", portfolio]
    assert main(argv) == 0
    return json.loads(out.read_text())


def current_snapshots(engine) -> dict[str, dt.date]:
    found = rows(
        engine,
        "SELECT p.external_id, s.as_of_date FROM portfolio_snapshot s "
        "JOIN portfolio p ON p.id = s.portfolio_id WHERE s.is_current",
    )
    return {str(ext): day for ext, day in found}


# ---- the independent reference ----------------------------------------------------------------
def ols(y: pd.Series, x: pd.DataFrame | pd.Series) -> Any:
    frame = pd.concat([y.rename("__y__"), x], axis=1).dropna()
    return sm.OLS(frame["__y__"], sm.add_constant(frame.drop(columns="__y__"))).fit()


@dataclass(frozen=True)
class Reference:
    nav: float
    market_value: dict[str, float]  # per position symbol
    exposure: dict[str, float]  # per position symbol (delta-equivalent for options)
    port: pd.Series
    weights: pd.Series  # per priced asset (options added to their underlying)
    returns: pd.DataFrame
    spy: pd.Series
    factor_returns: pd.DataFrame
    dy: pd.Series
    raw_returns: pd.DataFrame


def reference(inputs: Inputs, portfolio: dict[str, Any], as_of: dt.date) -> Reference:
    """Today's book over history, built from the CSV files with pandas (C3, C4, C6, C7, C12)."""
    long = pd.read_csv(inputs.prices, dtype={"symbol": str, "date": str})
    long = long[long["date"] <= as_of.isoformat()]
    prices = long.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    prices.index = pd.to_datetime(prices.index)
    filled = prices.ffill(limit=5)
    returns = filled.pct_change(fill_method=None).iloc[1:]
    spot = filled.iloc[-1]
    market_value: dict[str, float] = {}
    exposure: dict[str, float] = {}
    per_asset: dict[str, float] = {}
    for position in portfolio["positions"]:
        symbol, qty = position["symbol"], float(position["quantity"])
        option = position.get("option")
        if option is None:
            market_value[symbol] = exposure[symbol] = qty * float(spot[symbol])
            asset = symbol
        else:
            asset = option["underlying"]
            s = float(spot[asset])
            years = (dt.date.fromisoformat(option["expiry"]) - as_of).days / 365.0
            vol, q = option["implied_vol"], option["dividend_yield"]
            args = (option["type"][0], s, option["strike"], years, RISK_FREE, vol, q)
            shares = qty * option["multiplier"]
            market_value[symbol] = shares * black_scholes_merton(*args)
            exposure[symbol] = shares * bsm_greeks.delta(*args) * s
        per_asset[asset] = per_asset.get(asset, 0.0) + exposure[symbol]
    nav = float(portfolio["cash"]) + sum(market_value.values())
    weights = pd.Series(per_asset) / nav
    port = returns[weights.index].mul(weights).sum(axis=1, skipna=False).dropna()

    rates = pd.read_csv(inputs.rates, dtype={"date": str, "value": str})
    level = pd.Series(
        pd.to_numeric(rates["value"].replace(".", np.nan)).to_numpy(dtype=float),
        index=pd.to_datetime(rates["date"]),
    )
    weekdays = pd.bdate_range(level.index.min(), prices.index.max())
    on_equity_dates = level.reindex(weekdays).ffill().reindex(prices.index)
    dy = on_equity_dates.diff().iloc[1:]
    return Reference(
        nav=nav,
        market_value=market_value,
        exposure=exposure,
        port=port,
        weights=weights,
        returns=returns,
        spy=returns["SPY"],
        factor_returns=returns[list(FACTORS)],
        dy=dy,
        raw_returns=prices.pct_change(fill_method=None).iloc[1:],
    )


def approx_rel(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-12)


def approx_usd(value: float) -> Any:
    return pytest.approx(value, abs=0.01)


def approx_beta(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


def check_against_reference(document: dict[str, Any], ref: Reference) -> None:
    nav = ref.nav
    valuation = document["valuation"]
    assert valuation["nav"] == approx_usd(nav)
    by_symbol = {p["symbol"]: p for p in document["positions"]}
    assert set(by_symbol) == set(ref.market_value)
    for symbol, position in by_symbol.items():
        assert position["market_value"] == approx_usd(ref.market_value[symbol])
        assert position["exposure"] == approx_usd(ref.exposure[symbol])
        assert position["weight"] == approx_rel(ref.exposure[symbol] / nav)
    values = ref.market_value.values()
    assert valuation["long_mv"] == approx_usd(sum(v for v in values if v > 0))
    assert valuation["short_mv"] == approx_usd(sum(v for v in values if v < 0))
    assert valuation["net_exposure"] == approx_usd(sum(ref.exposure.values()))
    # Gross nets a stock against the options on it first (FORMATS.md section 5).
    gross = float(ref.weights.abs().sum() * nav)
    assert valuation["gross_exposure"] == approx_usd(gross)
    assert valuation["gross_leverage"] == approx_rel(gross / nav)

    port = ref.port
    full = document["risk"]["full"]
    assert full["n_obs"] == len(port)
    var95 = -empyrical.value_at_risk(port.to_numpy(), cutoff=0.05)
    assert full["hist_var_95"]["fraction"] == approx_rel(var95)
    assert full["hist_var_95"]["currency"] == approx_usd(var95 * nav)
    var99 = -empyrical.value_at_risk(port.to_numpy(), cutoff=0.01)
    assert full["hist_var_99"]["fraction"] == approx_rel(var99)
    cvar95 = -empyrical.conditional_value_at_risk(port.to_numpy(), cutoff=0.05)
    assert full["cvar_95"]["fraction"] == approx_rel(cvar95)
    assert full["cvar_95"]["currency"] == approx_usd(cvar95 * nav)
    assert full["ann_vol"] == approx_rel(empyrical.annual_volatility(port.to_numpy()))
    mean, std = float(port.mean()), float(port.std(ddof=1))
    assert full["param_var_95"]["fraction"] == approx_rel(-(mean - 1.6448536269514722 * std))
    assert full["param_var_99"]["fraction"] == approx_rel(-(mean - 2.3263478740408408 * std))
    last252 = port.iloc[-252:].to_numpy()
    recent = document["risk"]["252d"]
    assert recent["n_obs"] == len(last252)
    assert recent["hist_var_95"]["fraction"] == approx_rel(
        -empyrical.value_at_risk(last252, cutoff=0.05)
    )

    assert document["beta_spy"]["full"] == approx_beta(ols(port, ref.spy).params.iloc[1])
    joint = pd.concat([port, ref.spy], axis=1).dropna().iloc[-150:]
    beta150 = ols(joint.iloc[:, 0], joint.iloc[:, 1]).params.iloc[1]
    assert document["beta_spy"]["150d"] == approx_beta(beta150)

    factor_rows = ref.factor_returns.dropna().index[-150:]
    fit = ols(port.reindex(factor_rows), ref.factor_returns.loc[factor_rows])
    exposures = document["factor_exposures"]
    assert exposures["n_obs"] == int(fit.nobs)
    for factor in FACTORS:
        assert exposures["betas"][factor] == approx_beta(fit.params[factor])
    assert exposures["alpha_daily"] == approx_beta(fit.params["const"])
    assert exposures["r2"] == approx_beta(fit.rsquared)

    rate_beta = ols(port, ref.dy.rename("dy")).params["dy"]
    rates = document["rate_sensitivity"]
    assert rates["series"] == "DGS10"
    assert rates["rate_beta_per_pp"] == approx_beta(rate_beta)
    assert rates["dv01"] == approx_usd(rate_beta * 0.01 * nav)

    performance = document["performance"]
    assert performance["max_drawdown"] == approx_rel(-empyrical.max_drawdown(port.to_numpy()))
    assert performance["sharpe"] == approx_rel(empyrical.sharpe_ratio(port.to_numpy()))
    assert performance["sortino"] == approx_rel(empyrical.sortino_ratio(port.to_numpy()))

    stress = document["stress"]
    assert stress["market_up_10"]["pnl"] == approx_usd(beta150 * 0.10 * nav)
    assert stress["market_down_20"]["pnl"] == approx_usd(-beta150 * 0.20 * nav)
    assert stress["rates_down_50bp"]["pnl"] == approx_usd(rate_beta * -0.5 * nav)
    crash = {**CRASH, "USMV": -0.07}
    crash_pnl = nav * sum(fit.params[f] * crash[f] for f in FACTORS)
    assert stress["equity_crash"]["pnl"] == approx_usd(crash_pnl)
    assert stress["equity_crash"]["return_impact"] == approx_rel(crash_pnl / nav)

    symbols = document["correlation"]["symbols"]
    assert symbols == sorted(ref.weights.index)
    corr = ref.raw_returns[symbols].corr(method="pearson", min_periods=60)
    for i, a in enumerate(symbols):
        for j, b in enumerate(symbols):
            # RISK-CONVENTIONS: absolute 1e-9, through storage and export (no rounding)
            assert document["correlation"]["matrix"][i][j] == pytest.approx(
                corr.loc[a, b], abs=1e-9
            )


def check_decomposition(document: dict[str, Any], book: dict[str, Any], ref: Reference) -> None:
    """C22-C27 through storage and export: parts add up, figures match a covariance reference."""
    block = document["decomposition"]
    assert block["window"] == "full" and block["n_obs"] == len(ref.port)
    full = document["risk"]["full"]
    sigma = full["ann_vol"] / np.sqrt(252)
    assert block["sigma_daily"] == pytest.approx(sigma, rel=1e-10)
    entries = {e["symbol"]: e for e in block["positions"]}
    assert list(entries) == [p["symbol"] for p in document["positions"]]
    assert sum(e["ctr_daily"] for e in entries.values()) == pytest.approx(sigma, rel=1e-10)
    for key in ("param_var_95", "cvar_95"):
        total = sum(e[key]["fraction"] for e in entries.values())
        assert total == pytest.approx(full[key]["fraction"], rel=1e-10), key

    symbols = [p["symbol"] for p in book["positions"]]
    assets = [
        p["option"]["underlying"] if "option" in p else p["symbol"] for p in book["positions"]
    ]
    w = np.array([ref.exposure[s] / ref.nav for s in symbols])
    x = ref.returns[assets].loc[ref.port.index].to_numpy()
    cov = np.cov(x, rowvar=False, ddof=1)
    ref_sigma = float(np.sqrt(w @ cov @ w))
    mctr = cov @ w / ref_sigma
    rp = pd.Series(x @ w)
    tail = rp.nsmallest(int(np.floor((rp.size - 1) * 0.05)) + 1, keep="first").index
    ref_cvar = -w * x[tail].mean(axis=0)
    ref_pvar = -(w * x.mean(axis=0) - 1.6448536269514722 * w * mctr)
    for i, symbol in enumerate(symbols):
        entry = entries[symbol]
        assert entry["underlying"] == assets[i]
        assert entry["mctr_daily"] == approx_rel(mctr[i])
        assert entry["ctr_annual"] == approx_rel(w[i] * mctr[i] * np.sqrt(252))
        assert entry["ctr_share"] == approx_rel(w[i] * mctr[i] / ref_sigma)
        assert entry["param_var_95"]["fraction"] == approx_rel(ref_pvar[i])
        assert entry["cvar_95"]["fraction"] == approx_rel(ref_cvar[i])
        assert entry["cvar_95"]["currency"] == approx_usd(ref_cvar[i] * ref.nav)
    sectors = {SECTORS.get(a, "Unknown") for a in assets}
    assert set(block["by_sector"]) == sectors
    assert set(block["by_underlying"]) == set(assets)
    for grouping in ("by_underlying", "by_sector"):
        shares = sum(g["ctr_share"] for g in block[grouping].values())
        assert shares == pytest.approx(1.0, rel=1e-10)

    split = block["factor"]
    total = split["total_variance"]
    assert split["systematic_variance"] / total == pytest.approx(
        document["factor_exposures"]["r2"], rel=1e-10
    )
    specific_share = split["specific_variance"] / total
    assert sum(split["contributions"].values()) + specific_share == pytest.approx(1.0, rel=1e-10)

    active = (ref.port - ref.spy.loc[ref.port.index]).to_numpy()
    te = float(np.std(active, ddof=1) * np.sqrt(252))
    benchmark = document["benchmark"]
    assert benchmark["symbol"] == "SPY"
    assert benchmark["tracking_error"] == approx_rel(te)
    assert benchmark["information_ratio"] == approx_rel(float(np.mean(active)) * 252 / te)
    assert benchmark["active_beta"] == approx_beta(ols(ref.port, ref.spy).params.iloc[1] - 1.0)


def check_option_book(document: dict[str, Any], inputs: Inputs, ref: Reference) -> None:
    """Option value, desk Greeks (py_vollib) and the full-revaluation stress of the SPY book."""
    spot = next(p["price"] for p in document["positions"] if p["symbol"] == "SPY")
    years = (OPTION_EXPIRY - AS_OF).days / 365.0
    option_mv = 0.0
    repriced_up_10 = 0.0
    for position in document["positions"]:
        terms = inputs.options.get(position["symbol"])
        if terms is None:
            continue
        flag, strike = terms["type"][0], terms["strike"]
        rest = (years, RISK_FREE, terms["implied_vol"], terms["dividend_yield"])
        price = black_scholes_merton(flag, spot, strike, *rest)
        shares = position["quantity"] * terms["multiplier"]
        greeks = position["greeks"]
        assert position["price"] == approx_rel(price)
        for key, function in (
            ("delta", bsm_greeks.delta),
            ("gamma", bsm_greeks.gamma),
            ("vega_per_1pct_vol", bsm_greeks.vega),
            ("theta_per_calendar_day", bsm_greeks.theta),
            ("rho_per_1pct_rate", bsm_greeks.rho),
        ):
            assert greeks[key] == approx_rel(function(flag, spot, strike, *rest)), key
        delta = bsm_greeks.delta(flag, spot, strike, *rest)
        assert greeks["delta_dollars"] == approx_usd(shares * delta * spot)
        assert greeks["gamma_shares_per_1usd"] == approx_rel(
            shares * bsm_greeks.gamma(flag, spot, strike, *rest)
        )
        assert greeks["vega_usd_per_1pct_vol"] == approx_usd(
            shares * bsm_greeks.vega(flag, spot, strike, *rest)
        )
        assert greeks["theta_usd_per_calendar_day"] == approx_usd(
            shares * bsm_greeks.theta(flag, spot, strike, *rest)
        )
        assert greeks["rho_usd_per_1pct_rate"] == approx_usd(
            shares * bsm_greeks.rho(flag, spot, strike, *rest)
        )
        option_mv += shares * price
        repriced_up_10 += shares * (black_scholes_merton(flag, spot * 1.10, strike, *rest) - price)
    valuation = document["valuation"]
    assert valuation["option_market_value"] == approx_usd(option_mv)
    assert valuation["stock_market_value"] == approx_usd(ref.nav - 40000.0 - option_mv)
    # Full revaluation of market_up_10: each stock moves by its own 150-day SPY beta x 10 %,
    # SPY by exactly 10 %, and the options are repriced at the moved SPY.
    usmv = pd.concat([ref.returns["USMV"], ref.spy], axis=1).dropna().iloc[-150:]
    usmv_beta = ols(usmv["USMV"], usmv["SPY"]).params.iloc[1]
    stocks_up_10 = ref.exposure["SPY"] * 0.10 + ref.exposure["USMV"] * usmv_beta * 0.10
    full = document["stress_full_revaluation"]["market_up_10"]
    assert full["pnl"] == approx_usd(stocks_up_10 + repriced_up_10)
    assert full["return_impact"] == approx_rel((stocks_up_10 + repriced_up_10) / ref.nav)
    # Linear: the delta-equivalent figure, which misses the options' convexity.
    assert document["stress"]["market_up_10"]["pnl"] != pytest.approx(full["pnl"], abs=1.0)


def check_document_shape(document: dict[str, Any], portfolio_id: str, has_options: bool) -> None:
    """Every key of FORMATS.md section 5."""
    assert document["schema"] == "sigmasight.risk/1"
    assert document["portfolio_id"] == portfolio_id
    assert document["as_of"] == AS_OF.isoformat()
    assert document["data_as_of"] == AS_OF.isoformat()
    assert document["run_id"]
    assert document["conventions"] == {
        "returns": "simple",
        "annualization": 252,
        "ffill_limit": 5,
        "quantile_method": "linear",
        "param_var": "mean",
        "cvar": "historical_empyrical",
        "factor_parametrization": "raw",
        "rate_beta": "univariate",
        "theta": "per_calendar_day",
    }
    assert set(document["valuation"]) >= {
        "nav",
        "cash",
        "long_mv",
        "short_mv",
        "stock_market_value",
        "option_market_value",
        "gross_exposure",
        "net_exposure",
        "gross_leverage",
        "net_leverage",
    }
    for position in document["positions"]:
        assert {"symbol", "quantity", "price", "market_value", "exposure", "weight"} <= set(
            position
        )
        if position["symbol"].startswith("O:"):
            assert position["underlying"] == "SPY"
            assert set(position["greeks"]) == set(GREEK_KEYS)
            assert all(isinstance(v, float) for v in position["greeks"].values())
        else:
            assert "greeks" not in position
    for window in ("full", "252d"):
        block = document["risk"][window]
        assert isinstance(block["n_obs"], int)
        assert isinstance(block["ann_vol"], float)
        for key in RISK_KEYS:
            assert set(block[key]) == {"fraction", "currency"}
            assert block[key]["fraction"] > 0
    assert set(document["beta_spy"]) == {"full", "150d"}
    exposures = document["factor_exposures"]
    assert exposures["window"] == 150
    assert set(exposures["betas"]) == set(FACTORS)  # JSON object: key order is not a contract
    assert {"n_obs", "alpha_daily", "r2"} <= set(exposures)
    assert set(document["rate_sensitivity"]) >= {
        "series",
        "rate_beta_per_pp",
        "duration_years",
        "dv01",
    }
    assert set(document["performance"]) >= {
        "max_drawdown",
        "sharpe",
        "sortino",
        "cumulative_return",
    }
    names = {
        "equity_crash",
        *(f"market_{w}_{n}" for w in ("up", "down") for n in (5, 10, 20)),
        *(f"rates_{w}_{n}bp" for w in ("up", "down") for n in (50, 100)),
    }
    assert names <= set(document["stress"])
    for entry in document["stress"].values():
        assert set(entry) == {"return_impact", "pnl"}
    if has_options:
        assert set(document["stress_full_revaluation"]) == set(document["stress"])
    else:
        assert "stress_full_revaluation" not in document
    correlation = document["correlation"]
    assert correlation["min_overlap"] == 60
    n = len(correlation["symbols"])
    assert len(correlation["matrix"]) == n and all(len(r) == n for r in correlation["matrix"])
    assert all(correlation["matrix"][i][i] == 1.0 for i in range(n))
    assert isinstance(document["warnings"], list)


# ---- tests ---------------------------------------------------------------------------------------
def test_nightly_risk_end_to_end_export_matches_reference_and_rerun_changes_nothing(
    engine, inputs, tmp_path
):
    import_all(inputs)
    result = run(as_of=AS_OF)
    assert result["as_of"] == AS_OF.isoformat()
    assert result["portfolios"] == 3 and result["current"] == 3
    assert result.get("error", 0) == 0 and result.get("incomplete", 0) == 0

    snaps = rows(
        engine,
        "SELECT p.external_id, s.status, s.is_current, s.nav, s.hist_var_95, s.run_id "
        "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id ORDER BY 1",
    )
    assert [s.external_id for s in snaps] == ["LO_CORE", "LS_ALPHA", "OPT_SPY"]
    assert all(s.is_current and s.status in ("ok", "warnings") for s in snaps)
    assert {str(s.run_id) for s in snaps} == {result["run_id"]}

    ledger = rows(
        engine,
        "SELECT id, status, as_of_date, counts, timings, error FROM flow_run "
        "WHERE flow = 'nightly-risk'",
    )
    assert len(ledger) == 1
    entry = ledger[0]
    assert str(entry.id) == result["run_id"]
    assert (entry.status, entry.as_of_date, entry.error) == ("succeeded", AS_OF, None)
    assert entry.counts["portfolios"] == 3 and entry.counts["current"] == 3
    assert entry.counts["chunks"] >= 1
    for stage in ("load_s", "compute_s", "write_s"):
        assert isinstance(entry.timings[stage], int | float) and entry.timings[stage] >= 0

    per_portfolio = dict(
        rows(
            engine,
            "SELECT p.external_id, count(*) FROM factor_exposure f "
            "JOIN portfolio p ON p.id = f.portfolio_id WHERE f.position_id IS NULL GROUP BY 1",
        )
    )
    assert per_portfolio == {"LO_CORE": 7, "LS_ALPHA": 7, "OPT_SPY": 7}
    assert scalar(engine, "SELECT count(*) FROM position_risk WHERE as_of_date = :d", d=AS_OF) == 12
    assert scalar(engine, "SELECT count(*) FROM correlation_result") == 3
    methods = dict(
        rows(engine, "SELECT method, count(DISTINCT portfolio_id) FROM stress_result GROUP BY 1")
    )
    assert methods == {"linear": 3, "full_revaluation": 1}

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["nightly-risk-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[entry.id]),
            )
        )
    assert len(artifacts) == 1 and artifacts[0].type == "table"

    # Export: one document per portfolio, or a list of all of them.
    bundle = json.loads(inputs.bundle.read_text())
    books = {p["id"]: p for p in bundle["portfolios"]}
    everything = export(tmp_path, AS_OF)
    assert isinstance(everything, list)
    assert [d["portfolio_id"] for d in everything] == ["LO_CORE", "LS_ALPHA", "OPT_SPY"]
    for portfolio_id, book in books.items():
        document = export(tmp_path, AS_OF, portfolio_id)
        assert isinstance(document, dict)
        assert document == next(d for d in everything if d["portfolio_id"] == portfolio_id)
        assert document["run_id"] == result["run_id"]
        check_document_shape(document, portfolio_id, has_options=portfolio_id == "OPT_SPY")
        check_against_reference(document, reference(inputs, book, AS_OF))
        check_decomposition(document, book, reference(inputs, book, AS_OF))

    # The late listing and the long gap show up as warnings, not as made-up numbers.
    ls = next(d for d in everything if d["portfolio_id"] == "LS_ALPHA")
    assert ls["risk"]["full"]["n_obs"] < 252
    assert any("fewer than 252" in w for w in ls["warnings"])

    check_option_book(
        next(d for d in everything if d["portfolio_id"] == "OPT_SPY"),
        inputs,
        reference(inputs, books["OPT_SPY"], AS_OF),
    )

    # A rerun for the same date rewrites no result row; only the ledger gains a row.
    before = result_digests(engine)
    again = run(as_of=AS_OF)
    assert again["run_id"] != result["run_id"]
    assert result_digests(engine) == before
    statuses = rows(
        engine, "SELECT status FROM flow_run WHERE flow = 'nightly-risk' ORDER BY started_at"
    )
    assert [s.status for s in statuses] == ["succeeded", "succeeded"]
    assert export(tmp_path, AS_OF) == everything


def test_holiday_is_skipped_and_writes_nothing(engine):
    before = table_digests(engine)
    state = nightly_risk(as_of=dt.date(2025, 12, 25), return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert state.message and "not an NYSE trading day" in state.message
    assert table_digests(engine) == before
    assert scalar(engine, "SELECT count(*) FROM flow_run") == 0


def test_a_failed_chunk_leaves_the_previous_snapshot_current(engine, inputs, monkeypatch):
    import_all(inputs)
    monkeypatch.setenv("SIGMASIGHT_RISK_CHUNK_SIZE", "1")
    get_settings.cache_clear()
    first = run(as_of=D1)
    assert first["chunks"] == 3 and first["current"] == 3
    assert current_snapshots(engine) == dict.fromkeys(("LO_CORE", "LS_ALPHA", "OPT_SPY"), D1)

    # The last chunk's write fails for real: a trigger rejects its stress rows.
    victim = scalar(engine, "SELECT max(id) FROM portfolio")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION test_reject_stress() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF NEW.portfolio_id = {int(victim)} THEN "
                "RAISE EXCEPTION 'injected failure for portfolio %', NEW.portfolio_id; "
                "END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER test_reject_stress BEFORE INSERT ON stress_result "
                "FOR EACH ROW EXECUTE FUNCTION test_reject_stress()"
            )
        )
    try:
        state = nightly_risk(as_of=AS_OF, return_state=True)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_reject_stress ON stress_result"))
            conn.execute(text("DROP FUNCTION test_reject_stress()"))
    assert state.is_failed(), state
    ledger = rows(
        engine,
        "SELECT status, error FROM flow_run WHERE flow = 'nightly-risk' AND as_of_date = :d",
        d=AS_OF,
    )
    assert len(ledger) == 1 and ledger[0].status == "failed"
    assert "injected failure" in ledger[0].error
    # Chunks that committed left D2 rows behind, but none of them became current.
    d2 = rows(
        engine,
        "SELECT portfolio_id, is_current FROM portfolio_snapshot WHERE as_of_date = :d",
        d=AS_OF,
    )
    assert len(d2) == 2 and victim not in {r.portfolio_id for r in d2}
    assert not any(r.is_current for r in d2)
    assert current_snapshots(engine) == dict.fromkeys(("LO_CORE", "LS_ALPHA", "OPT_SPY"), D1)

    # Without the fault, the same date completes and every book moves on to D2.
    second = run(as_of=AS_OF)
    assert second["current"] == 3
    assert current_snapshots(engine) == dict.fromkeys(("LO_CORE", "LS_ALPHA", "OPT_SPY"), AS_OF)


def test_a_symbol_without_prices_makes_only_its_portfolio_incomplete(engine, inputs, tmp_path):
    bundle = json.loads(inputs.bundle.read_text())
    bundle["portfolios"].append(
        {
            "id": "NO_DATA",
            "name": "Holds an unpriced stock",
            "owner": "nodata@example.com",
            "cash": 1000.0,
            "positions": [
                {"symbol": "AAPL", "quantity": 10},
                {"symbol": "ZZZZ", "quantity": 100},
            ],
        }
    )
    path = tmp_path / "bundle-missing.json"
    path.write_text(json.dumps(bundle))
    import_all(inputs, path)
    result = run(as_of=AS_OF)
    assert result["portfolios"] == 4 and result["incomplete"] == 1

    statuses = dict(
        rows(
            engine,
            "SELECT p.external_id, s.status FROM portfolio_snapshot s "
            "JOIN portfolio p ON p.id = s.portfolio_id",
        )
    )
    assert statuses.pop("NO_DATA") == "incomplete"
    assert set(statuses.values()) <= {"ok", "warnings"} and len(statuses) == 3

    document = export(tmp_path, AS_OF, "NO_DATA")
    assert document["valuation"]["nav"] is None
    assert document["risk"]["full"]["hist_var_95"] == {"fraction": None, "currency": None}
    assert any("ZZZZ" in w for w in document["warnings"])
    zzzz = next(p for p in document["positions"] if p["symbol"] == "ZZZZ")
    assert zzzz["price"] is None and zzzz["market_value"] is None

    lo = export(tmp_path, AS_OF, "LO_CORE")
    book = next(p for p in bundle["portfolios"] if p["id"] == "LO_CORE")
    ref = reference(inputs, book, AS_OF)
    assert lo["valuation"]["nav"] == approx_usd(ref.nav)
    var95 = -empyrical.value_at_risk(ref.port.to_numpy(), cutoff=0.05)
    assert lo["risk"]["full"]["hist_var_95"]["fraction"] == approx_rel(var95)
    assert not any("ZZZZ" in w for w in lo["warnings"])

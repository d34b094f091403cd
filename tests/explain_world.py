"""A report input with every explain block, built from the risk engine's unit-test world.

No database: the engine's synthetic market and books of ``tests.unit.test_risk_engine`` give
a real document (valuation, risk, decomposition, benchmark, correlation) for one portfolio.
The blocks that need stored history are built by the risk run's own functions from a
history generated here: a year of actual NAVs (today's book replayed over the panel with some
trading noise), each session's historical VaR over its trailing window, the backtest
(``risk.backtest``), attribution and change (``risk_rows``). The ``limits`` block is written
in the documented shape (FORMATS section 8) with one entry of each status.
"""

import datetime as dt
from typing import Any

import numpy as np

from sigmasight.documents import RiskDocument
from sigmasight.reports.model import (
    ActualHistory,
    Narrative,
    PositionDetail,
    ReportInput,
    ReturnPath,
    ScenarioInfo,
)
from sigmasight.reports.narrative import template_narrative
from sigmasight.reports.series import asset_weights, book_returns, wealth_and_drawdown
from sigmasight.risk.backtest import backtest_block
from sigmasight.risk.document import (
    GREEK_KEYS,
    assemble,
    correlation_block,
    decomposition_rows,
    headline,
)
from sigmasight.risk_rows import Previous, attribution_block, change_block
from tests.unit.test_risk_engine import BOOKS, FACTORS, PANEL, RESULT, RETURNS, ROW, SECTORS, T

PORTFOLIO = "OPT"
FACTOR_NAMES = {
    "SPY": "Market",
    "VTV": "Value",
    "VUG": "Growth",
    "MTUM": "Momentum",
    "QUAL": "Quality",
    "IWM": "Size",
    "USMV": "Low volatility",
}


def _num(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _positions(p: int) -> list[dict[str, Any]]:
    rows = np.flatnonzero(BOOKS.pos_portfolio == p)
    entries = []
    for i in rows.tolist():
        option = bool(BOOKS.is_option[i])
        entry: dict[str, Any] = {
            "symbol": BOOKS.pos_symbol[i],
            "quantity": float(BOOKS.quantity[i]),
        }
        if option:
            entry["underlying"] = BOOKS.pos_asset[i]
        for key in ("price", "market_value", "exposure", "weight"):
            entry[key] = _num(RESULT.positions[key][i])
        if option:
            entry["greeks"] = {k: _num(RESULT.position_greeks[k][i]) for k in GREEK_KEYS}
        entries.append(entry)
    return entries


def _trailing_var(returns: np.ndarray, end: int, q: float) -> float:
    window = returns[max(0, end - 252) : end]
    window = window[~np.isnan(window)]
    return float(-np.quantile(window, q))


def _history(document: dict[str, Any], replay: np.ndarray) -> ActualHistory:
    """A year of stored snapshots: NAV, P&L, daily TWR and each session's VaR."""
    rng = np.random.default_rng(20261203)
    n = len(PANEL.dates)
    noise = rng.normal(0.0, 0.002, n - 1)
    daily = np.where(np.isnan(replay), 0.0, replay) + noise
    nav_today = float(document["valuation"]["nav"])
    growth = np.concatenate([[1.0], np.cumprod(1.0 + daily)])
    nav = nav_today * growth / growth[-1]
    pnl: list[float | None] = [None, *np.diff(nav).tolist()]
    twr: list[float | None] = [None, *(np.diff(nav) / nav[:-1]).tolist()]
    cumulative: list[float | None] = [None, *(nav[1:] / nav[0] - 1.0).tolist()]
    var95: list[float | None] = [None] * 60 + [_trailing_var(daily, t, 0.05) for t in range(60, n)]
    var99: list[float | None] = [None] * 60 + [_trailing_var(daily, t, 0.01) for t in range(60, n)]
    return ActualHistory(
        dates=tuple(PANEL.dates),
        nav=tuple(float(v) for v in nav),
        external_flow=(0.0,) * n,
        twr_cumulative=tuple(cumulative),
        pnl=tuple(pnl),
        twr_daily=tuple(twr),
        var_95=tuple(var95),
        var_99=tuple(var99),
    )


def _limits(document: dict[str, Any]) -> list[dict[str, Any]]:
    valuation = document["valuation"]
    var = document["risk"]["full"]["hist_var_95"]["fraction"]
    beta = document["beta_spy"]["150d"]
    return [
        {
            "limit": "hist_var_95_fraction",
            "value": var,
            "bound": round(var * 0.8, 4),
            "status": "new",
        },
        {
            "limit": "gross_leverage",
            "value": valuation["gross_leverage"],
            "bound": round(valuation["gross_leverage"] * 0.9, 2),
            "status": "continuing",
        },
        {"limit": "worst_stress_fraction", "value": None, "bound": 0.25, "status": "unknown"},
        {
            "limit": "beta_spy_150d",
            "value": beta,
            "bound": [beta - 0.5, beta + 0.5],
            "status": "resolved",
        },
        {"limit": "net_leverage", "value": valuation["net_leverage"], "bound": 3.0, "status": "ok"},
        {"limit": "max_position_weight", "value": 0.41, "bound": 0.5, "status": "ok"},
    ]


def full_document(portfolio: str = PORTFOLIO) -> dict[str, Any]:
    """The engine's document for ``portfolio`` with every block of FORMATS section 8."""
    p = ROW[portfolio]
    head = headline(
        RESULT,
        p,
        external_id=portfolio,
        as_of=T,
        run_id="run-explain",
        data_as_of=T,
        factors=FACTORS,
    )
    rows = np.flatnonzero(BOOKS.pos_portfolio == p).tolist()
    symbols, matrix, _ = RESULT.correlation[p]
    corr = correlation_block(list(symbols), [[_num(v) for v in row] for row in np.asarray(matrix)])
    document = assemble(head, _positions(p), corr, FACTORS, decomposition_rows(RESULT, BOOKS, rows))
    path = _path(RiskDocument.model_validate(document))
    assert path.returns is not None
    history = _history(document, path.returns)
    n = history.sessions
    previous = Previous(
        as_of=history.dates[-2],
        nav=history.nav[-2],
        twr_cumulative=history.twr_cumulative[-2],
        var_95=history.var_95[-2],
        var_99=history.var_99[-2],
        factor_betas=dict(document["factor_exposures"]["betas"]),
    )
    pnl = history.pnl[-1]
    held = [(BOOKS.pos_symbol[i], float(RESULT.positions["daily_pnl"][i])) for i in rows]
    factor_returns = {f: float(RETURNS[f].iloc[-1]) for f in FACTORS}
    attribution, _ = attribution_block(previous, pnl, held, factor_returns)
    var_today = document["risk"]["full"]["hist_var_95"]["fraction"]
    before = history.var_95[-2]
    assert before is not None
    change, _ = change_block(previous, history.dates[-2], var_today, before * 1.04)
    days: list[tuple[float, float, float]] = []
    for t in range(1, n):
        day_pnl, nav_before = history.pnl[t], history.nav[t - 1]
        v95, v99 = history.var_95[t - 1], history.var_99[t - 1]
        if day_pnl is not None and nav_before is not None and v95 is not None and v99 is not None:
            days.append((day_pnl, v95 * nav_before, v99 * nav_before))
    backtest, _ = backtest_block(days)
    document["history"] = {
        "pnl": pnl,
        "external_flow": 0.0,
        "twr_daily": history.twr_daily[-1],
        "twr_cumulative": history.twr_cumulative[-1],
        "previous_as_of": history.dates[-2].isoformat(),
    }
    document["attribution"] = attribution
    document["change"] = change
    document["backtest"] = backtest
    document["limits"] = _limits(document)
    return document


def _path(document: RiskDocument) -> ReturnPath:
    weights = asset_weights(document.positions)
    returns = book_returns(PANEL.prices, PANEL.symbols, weights)
    wealth, drawdown = wealth_and_drawdown(returns)
    bench = book_returns(PANEL.prices, PANEL.symbols, {"SPY": 1.0})
    bench_wealth, _ = wealth_and_drawdown(bench)
    return ReturnPath(
        dates=tuple(PANEL.dates),
        wealth=wealth,
        drawdown=drawdown,
        benchmark_symbol="SPY",
        benchmark_wealth=bench_wealth,
        returns=returns,
        benchmark_returns=bench,
    )


def report_input(document: dict[str, Any] | None = None, **changes: Any) -> ReportInput:
    """The report input of :func:`full_document` (or of ``document``), history included."""
    raw = full_document() if document is None else document
    typed = RiskDocument.model_validate(raw)
    path = _path(typed)
    assert path.returns is not None
    details = {
        p.symbol: PositionDetail(
            sector=SECTORS.get(p.underlying or p.symbol),
            asset_type="etf" if (p.underlying or p.symbol) in FACTORS else "stock",
        )
        for p in typed.positions
    }
    values: dict[str, Any] = {
        "document": typed,
        "portfolio_name": "Options overlay <book>",
        "narrative": Narrative(template_narrative(typed, FACTOR_NAMES), "template"),
        "details": details,
        "path": path,
        "history": _history(raw, path.returns),
        "factor_names": FACTOR_NAMES,
        "scenarios": {"equity_crash": ScenarioInfo("historical", "A sharp equity sell-off")},
        "clusters": [],
    }
    values.update(changes)
    return ReportInput(**values)


def as_of() -> dt.date:
    """The document's date."""
    return T

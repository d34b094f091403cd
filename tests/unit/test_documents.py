"""The typed risk document: JSON in, the same JSON out; one headline derivation."""

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from sigmasight.documents import RiskDocument
from sigmasight.risk import document as doc
from sigmasight.risk.document import GREEK_KEYS


def _amount(fraction: float | None, nav: float) -> dict[str, float | None]:
    return {"fraction": fraction, "currency": None if fraction is None else fraction * nav}


def _document(nav: float = 1_000_000.0) -> dict[str, Any]:
    window = {
        "n_obs": 250,
        "ann_vol": 0.18,
        **{
            key: _amount(0.01 * (i + 1), nav)
            for i, key in enumerate(
                ("hist_var_95", "hist_var_99", "param_var_95", "param_var_99", "cvar_95", "cvar_99")
            )
        },
    }
    greeks = {key: float(i) for i, key in enumerate(GREEK_KEYS)}
    return {
        "schema": "sigmasight.risk/1",
        "portfolio_id": "LO_CORE",
        "as_of": "2025-01-02",
        "run_id": "4b1c",
        "data_as_of": "2025-01-02",
        "conventions": {"returns": "simple", "annualization": 252},
        "valuation": {
            "nav": nav,
            "cash": 1.5,
            "long_mv": 2.5,
            "short_mv": -1.0,
            "stock_market_value": 2.0,
            "option_market_value": 0.5,
            "gross_exposure": 3.25,
            "net_exposure": 1.75,
            "gross_leverage": 1.1,
            "net_leverage": None,
        },
        "book": {
            "book_date": "2024-12-31",
            "trades_applied": 2,
            "realized_pnl": 12.5,
            "cost_basis": 500000.0,
            "unrealized_pnl": 79900.0,
        },
        "positions": [
            {
                "symbol": "AAPL",
                "quantity": 3000.0,
                "price": 190.5,
                "market_value": 571500.0,
                "exposure": 571500.0,
                "weight": 0.5715,
            },
            {
                "symbol": "O:SPY251219C00600000",
                "quantity": 20.0,
                "underlying": "SPY",
                "price": 4.2,
                "market_value": 8400.0,
                "exposure": 1.0e5,
                "weight": 0.1,
                "greeks": greeks,
            },
        ],
        "daily_pnl": {"pnl": -1234.5, "return": -0.0012345},
        "history": {
            "pnl": -1000.25,
            "external_flow": 5000.0,
            "twr_daily": -0.001,
            "twr_cumulative": 0.0123456789012345,
            "previous_as_of": "2024-12-31",
        },
        "risk": {"full": window, "252d": window},
        "beta_spy": {"full": 1.02, "150d": 0.97},
        "factor_exposures": {
            "window": 150,
            "n_obs": 150,
            "betas": {"SPY": 1.0, "VTV": 0.1, "IWM": None},
            "alpha_daily": 0.0001,
            "r2": 0.9,
        },
        "rate_sensitivity": {
            "series": "DGS10",
            "rate_beta_per_pp": -0.02,
            "duration_years": 2.0,
            "dv01": -200.0,
        },
        "performance": {
            "max_drawdown": -0.2,
            "sharpe": 1.1,
            "sortino": 1.4,
            "cumulative_return": 0.3,
        },
        "stress": {
            "b_crash": {"return_impact": -0.1, "pnl": -100000.0},
            "a_crash": {"return_impact": -0.1, "pnl": -100000.0},
            "rally": {"return_impact": 0.05, "pnl": 50000.0},
            "unknown": {"return_impact": None, "pnl": None},
        },
        "correlation": {
            "symbols": ["AAPL", "SPY"],
            "matrix": [[1.0, 0.61234567891]],
            "min_overlap": 60,
        },
        "warnings": ["one", "two"],
        # A block a newer run might add: kept as it came, after the known keys.
        "future_block": {"window": "full", "n_obs": 250, "extra": [1, 2]},
    }


def test_json_round_trip_keeps_keys_order_and_unknown_blocks() -> None:
    source = _document()
    typed = RiskDocument.model_validate(source)
    dumped = typed.as_json()
    assert json.dumps(dumped) == json.dumps(source)
    assert "underlying" not in dumped["positions"][0] and "greeks" not in dumped["positions"][0]
    assert "stress_full_revaluation" not in dumped


def test_reads_through_attributes() -> None:
    typed = RiskDocument.model_validate(_document())
    assert typed.as_of == dt.date(2025, 1, 2)
    assert typed.beta_spy.d150 == 0.97
    assert typed.risk["252d"].cvar_99.fraction == pytest.approx(0.06)
    option = typed.positions[1]
    assert option.underlying == "SPY" and option.greeks is not None
    assert option.greeks.rho_usd_per_1pct_rate == 9.0
    assert typed.correlation is not None and typed.correlation.matrix[0][1] == 0.61234567891


def test_headline_is_derived_once_from_the_document() -> None:
    headline = RiskDocument.model_validate(_document(nav=2_000_000.0)).headline()
    assert headline.nav == 2_000_000.0
    assert headline.var_95 == pytest.approx(0.01 * 2_000_000.0)
    assert headline.var_95_fraction == pytest.approx(0.01)
    assert headline.beta_spy == 0.97
    assert headline.daily_pnl == -1234.5 and headline.daily_return == -0.0012345
    # equal P&L: the name breaks the tie; scenarios without a P&L are left out
    assert (headline.worst_stress, headline.worst_stress_pnl) == ("a_crash", -100000.0)
    assert set(headline.stress_pnl) == {"a_crash", "b_crash", "rally"}
    assert headline.warnings == 2


def test_book_and_history_are_typed_and_in_the_formats_order() -> None:
    typed = RiskDocument.model_validate(_document())
    assert typed.book is not None and typed.history is not None
    assert typed.book.book_date == dt.date(2024, 12, 31) and typed.book.trades_applied == 2
    assert typed.history.previous_as_of == dt.date(2024, 12, 31)
    assert typed.history.twr_cumulative == 0.0123456789012345
    keys = list(typed.as_json())
    # FORMATS section 8: book follows valuation, history follows daily_pnl.
    assert keys[keys.index("valuation") + 1] == "book"
    assert keys[keys.index("daily_pnl") + 1] == "history"
    assert keys == list(doc.assemble(dict(reversed(_document().items())), [], None))


def test_book_and_history_may_be_null_or_carry_new_keys() -> None:
    source = _document()
    source["history"] = None
    source["book"] = {"book_date": "2024-12-31", "trades_applied": 0, "lots": [{"q": 1}]}
    typed = RiskDocument.model_validate(source)
    assert typed.history is None and typed.book is not None
    assert typed.as_json()["book"]["lots"] == [{"q": 1}]
    assert json.dumps(typed.as_json()) == json.dumps(source)
    older = _document()
    del older["book"], older["history"]
    assert "book" not in RiskDocument.model_validate(older).as_json()


def test_is_frozen_and_rejects_a_malformed_block() -> None:
    typed = RiskDocument.model_validate(_document())
    with pytest.raises(ValidationError):
        typed.portfolio_id = "OTHER"  # type: ignore[misc]
    broken = _document()
    broken["valuation"]["nav"] = "lots"
    with pytest.raises(ValidationError, match=r"valuation\.nav"):
        RiskDocument.model_validate(broken)
    broken = _document()
    broken["history"]["twr_daily"] = "high"
    with pytest.raises(ValidationError, match=r"history\.twr_daily"):
        RiskDocument.model_validate(broken)

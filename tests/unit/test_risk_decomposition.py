"""Risk decomposition (C22-C26) and benchmark-relative figures (C27) against independent references.

The synthetic market and the seven books of ``test_risk_engine`` go through the engine once;
each figure is recomputed here from the raw returns with numpy/pandas/statsmodels following
RISK-CONVENTIONS.md section 7: the covariance matrix of the position columns, the k + 1 lowest
portfolio returns picked by pandas, the factor covariance on the regression rows. Parts must
sum to their totals within 1e-10 relative and match the references within 1e-9 relative.
"""

import dataclasses
import json
import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from sigmasight.documents import RiskDocument
from sigmasight.risk.decomposition import group_sums, position_moments
from sigmasight.risk.document import (
    DECOMPOSITION_KEY_ORDER,
    KEY_ORDER,
    assemble,
    decomposition_rows,
    headline,
)
from sigmasight.risk.engine import Books, compute_books, prepare_market
from tests.unit.test_risk_engine import (
    BOOKS,
    DATES,
    FACTORS,
    MARKET,
    PANEL,
    RESULT,
    RETURNS,
    ROW,
    SCENARIOS,
    SECTORS,
    VALUED,
    Pos,
    T,
    make_books,
    ref_beta_spy,
    ref_factor_fit,
    rows_of,
)

SUM = 1e-10
REF = 1e-9
ALPHA = 0.05
DECOMPOSED = VALUED


@dataclasses.dataclass(frozen=True)
class RefDecomposition:
    assets: list[str]
    sectors: list[str]
    weight: np.ndarray
    sigma: float
    mctr: np.ndarray
    ctr: np.ndarray
    param_var: np.ndarray
    cvar: np.ndarray
    rp: pd.Series


@cache
def ref_decomposition(pid: str) -> RefDecomposition:
    """C22-C25 from the covariance matrix of the position columns (duplicates kept)."""
    rows = rows_of(pid)
    assets = [BOOKS.pos_asset[i] for i in rows]
    # The engine's weights: valuation is checked against py_vollib in test_risk_engine.
    w = RESULT.positions["weight"][rows]
    frame = RETURNS[assets]
    keep = frame.notna().all(axis=1).to_numpy()
    x = frame.to_numpy()[keep]
    cov = np.cov(x, rowvar=False, ddof=1).reshape(len(assets), len(assets))
    sigma = math.sqrt(w @ cov @ w)
    mctr = cov @ w / sigma
    rp = pd.Series(x @ w)
    k = math.floor((rp.size - 1) * ALPHA)
    tail = rp.nsmallest(k + 1, keep="first").index.to_numpy()
    return RefDecomposition(
        assets=assets,
        sectors=[SECTORS.get(a) or "Unknown" for a in assets],
        weight=w,
        sigma=sigma,
        mctr=mctr,
        ctr=w * mctr,
        param_var=-(w * x.mean(axis=0) + norm.ppf(ALPHA) * w * mctr),
        cvar=-w * x[tail].mean(axis=0),
        rp=pd.Series(x @ w, index=frame.index[keep]),
    )


def engine_positions(pid: str) -> dict[str, np.ndarray]:
    rows = rows_of(pid)
    return {k: v[rows] for k, v in RESULT.position_decomposition.items()}


def document(pid: str, result: Any = RESULT, books: Books = BOOKS) -> dict[str, Any]:
    """The full document as stored and read back (headline, then the position rows)."""
    p = ROW.get(pid, 0)
    head = headline(result, p, external_id=pid, as_of=T, run_id="r", data_as_of=T, factors=FACTORS)
    rows = np.flatnonzero(books.pos_portfolio == p)
    return assemble(head, [], None, FACTORS, decomposition_rows(result, books, rows.tolist()))


# ------------------------------------------------------------------ parts sum to totals


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_contributions_to_vol_sum_to_the_books_volatility(pid):
    p = ROW[pid]
    sigma = RESULT.risk["full"]["ann_vol"][p] / math.sqrt(252)
    assert RESULT.decomposition["sigma_daily"][p] == pytest.approx(sigma, rel=SUM)
    assert engine_positions(pid)["ctr_daily"].sum() == pytest.approx(sigma, rel=SUM)
    shares = [e["ctr_share"] for e in document(pid)["decomposition"]["positions"]]
    assert sum(shares) == pytest.approx(1.0, rel=SUM)


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_component_var_sums_to_mean_inclusive_parametric_var(pid):
    # the engine's param_var is mean-inclusive (CONVENTIONS param_var = "mean")
    assert RESULT.risk["full"]["param_var_95"][ROW[pid]] == pytest.approx(
        -(ref_decomposition(pid).rp.mean() + norm.ppf(ALPHA) * ref_decomposition(pid).rp.std()),
        rel=REF,
    )
    total = engine_positions(pid)["param_var_95"].sum()
    assert total == pytest.approx(RESULT.risk["full"]["param_var_95"][ROW[pid]], rel=SUM)


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_component_es_sums_to_historical_cvar(pid):
    total = engine_positions(pid)["cvar_95"].sum()
    assert total == pytest.approx(RESULT.risk["full"]["cvar_95"][ROW[pid]], rel=SUM)


@pytest.mark.parametrize("pid", DECOMPOSED)
@pytest.mark.parametrize("grouping", ["by_underlying", "by_sector"])
def test_groups_add_up_to_the_book(pid, grouping):
    block = document(pid)["decomposition"]
    groups = block[grouping]
    p = ROW[pid]
    full = RESULT.risk["full"]
    assert sum(g["ctr_share"] for g in groups.values()) == pytest.approx(1.0, rel=SUM)
    assert sum(g["param_var_95"] for g in groups.values()) == pytest.approx(
        full["param_var_95"][p], rel=SUM
    )
    assert sum(g["cvar_95"] for g in groups.values()) == pytest.approx(full["cvar_95"][p], rel=SUM)


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_factor_shares_and_specific_share_sum_to_one_and_systematic_share_is_r2(pid):
    block = document(pid)["decomposition"]["factor"]
    total = block["total_variance"]
    shares = sum(block["contributions"].values())
    assert shares + block["specific_variance"] / total == pytest.approx(1.0, rel=SUM)
    assert block["systematic_variance"] / total == pytest.approx(
        RESULT.factor_r2[ROW[pid]], rel=SUM
    )
    assert block["systematic_variance"] / total == pytest.approx(
        ref_factor_fit(pid).rsquared, rel=REF
    )


# ------------------------------------------------------------------ independent references


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_position_figures_match_the_covariance_matrix_reference(pid):
    ref = ref_decomposition(pid)
    got = engine_positions(pid)
    assert RESULT.decomposition["sigma_daily"][ROW[pid]] == pytest.approx(ref.sigma, rel=REF)
    assert RESULT.decomposition["n_obs"][ROW[pid]] == ref.rp.size
    for key, expected in (
        ("mctr_daily", ref.mctr),
        ("ctr_daily", ref.ctr),
        ("param_var_95", ref.param_var),
        ("cvar_95", ref.cvar),
    ):
        np.testing.assert_allclose(got[key], expected, rtol=REF, atol=1e-15, err_msg=key)


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_document_positions_carry_every_figure(pid):
    ref = ref_decomposition(pid)
    doc = document(pid)
    nav = doc["valuation"]["nav"]
    entries = doc["decomposition"]["positions"]
    rows = rows_of(pid)
    assert [e["symbol"] for e in entries] == [BOOKS.pos_symbol[i] for i in rows]
    assert [e["underlying"] for e in entries] == ref.assets
    for entry, w, mctr, ctr, pvar, cvar in zip(
        entries, ref.weight, ref.mctr, ref.ctr, ref.param_var, ref.cvar, strict=True
    ):
        assert entry["weight"] == pytest.approx(w, rel=1e-15)
        assert entry["mctr_daily"] == pytest.approx(mctr, rel=REF)
        assert entry["ctr_daily"] == pytest.approx(ctr, rel=REF)
        assert entry["ctr_annual"] == pytest.approx(ctr * math.sqrt(252), rel=REF)
        assert entry["ctr_share"] == pytest.approx(ctr / ref.sigma, rel=REF)
        assert entry["param_var_95"]["fraction"] == pytest.approx(pvar, rel=REF)
        assert entry["param_var_95"]["currency"] == pytest.approx(pvar * nav, rel=REF)
        assert entry["cvar_95"]["fraction"] == pytest.approx(cvar, rel=REF)
        assert entry["cvar_95"]["currency"] == pytest.approx(cvar * nav, rel=REF)


@pytest.mark.parametrize("pid", DECOMPOSED)
@pytest.mark.parametrize(
    ("grouping", "labels"), [("by_underlying", "assets"), ("by_sector", "sectors")]
)
def test_groups_match_pandas_groupby(pid, grouping, labels):
    ref = ref_decomposition(pid)
    frame = pd.DataFrame(
        {
            "label": getattr(ref, labels),
            "ctr_share": ref.ctr / ref.sigma,
            "param_var_95": ref.param_var,
            "cvar_95": ref.cvar,
        }
    )
    expected = frame.groupby("label").sum()
    groups = document(pid)["decomposition"][grouping]
    assert list(groups) == sorted(expected.index)
    for label, figures in groups.items():
        for key, value in figures.items():
            assert value == pytest.approx(expected.loc[label, key], rel=REF, abs=1e-15), (
                label,
                key,
            )


def test_an_option_and_its_underlying_add_up():
    groups = document("OPT")["decomposition"]["by_underlying"]
    assert list(groups) == ["S01", "S03", "SPY"]
    entries = document("OPT")["decomposition"]["positions"]
    s01 = [e for e in entries if e["underlying"] == "S01"]
    assert len(s01) == 2  # the stock and the short call on it
    assert groups["S01"]["cvar_95"] == pytest.approx(
        sum(e["cvar_95"]["fraction"] for e in s01), rel=1e-12
    )


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_factor_split_matches_the_factor_covariance_reference(pid):
    fit = ref_factor_fit(pid)
    factors = RETURNS[list(FACTORS)]
    window = factors.index[factors.notna().all(axis=1)][-150:]
    y = ref_decomposition(pid).rp.reindex(window).dropna()
    f = factors.loc[y.index]
    beta = fit.params[1:]
    cov = f.cov().to_numpy()  # ddof 1
    total = y.var()
    block = document(pid)["decomposition"]["factor"]
    assert block["window"] == 150
    assert block["total_variance"] == pytest.approx(total, rel=REF)
    assert block["systematic_variance"] == pytest.approx(beta @ cov @ beta, rel=REF)
    assert block["specific_variance"] == pytest.approx(total - beta @ cov @ beta, rel=REF)
    assert list(block["contributions"]) == list(FACTORS)
    expected = beta * (cov @ beta) / total
    got = np.array(list(block["contributions"].values()))
    # a single-ETF book has exact zeros where statsmodels leaves round-off
    np.testing.assert_allclose(got, expected, rtol=REF, atol=1e-14)


@pytest.mark.parametrize("pid", DECOMPOSED)
def test_benchmark_relative_figures_match_pandas(pid):
    rp = ref_decomposition(pid).rp
    active = rp - RETURNS["SPY"].loc[rp.index]
    te = active.std(ddof=1) * math.sqrt(252)
    block = document(pid)["benchmark"]
    assert block["symbol"] == "SPY"
    assert block["tracking_error"] == pytest.approx(te, rel=REF)
    assert block["information_ratio"] == pytest.approx(active.mean() * 252 / te, rel=REF)
    assert block["active_beta"] == pytest.approx(ref_beta_spy(pid) - 1.0, abs=1e-9)
    assert block["active_beta"] == pytest.approx(RESULT.beta_spy["full"][ROW[pid]] - 1.0, rel=1e-15)


# ------------------------------------------------------------------ the tail set and groups


def test_tail_set_breaks_ties_by_row_order():
    # r_p = x: rows 1, 3 and 4 tie at the lowest value; k + 1 = 2 rows -> rows 1 and 3
    x = np.array([0.03, -0.02, 0.01, -0.02, -0.02, 0.0, 0.02, 0.01, 0.0, 0.01, 0.02])
    other = np.arange(11.0)
    returns = np.column_stack([x, other])
    port = x[:, None].copy()
    alpha = 0.15  # k = floor(10 * 0.15) = 1
    moments = position_moments(returns, port, np.array([0, 1]), np.array([0, 0]), alpha)
    assert moments.tail_mean[0] == pytest.approx(-0.02)
    assert moments.tail_mean[1] == pytest.approx((1.0 + 3.0) / 2)


def test_group_sums_keep_nan_and_sort_labels_per_portfolio():
    owner = np.array([1, 0, 1, 1, 0])
    labels = ("b", "z", "a", "b", "a")
    values = {"v": np.array([1.0, 2.0, np.nan, 4.0, 8.0])}
    groups = group_sums(owner, labels, values, 3)
    assert groups.offsets.tolist() == [0, 2, 4, 4]
    assert groups.labels == ("a", "z", "a", "b")
    np.testing.assert_array_equal(groups.values["v"], [8.0, 2.0, np.nan, 5.0])


# ------------------------------------------------------------------ the document


def test_headline_holds_the_blocks_without_position_detail():
    head = headline(
        RESULT, ROW["OPT"], external_id="OPT", as_of=T, run_id="r", data_as_of=T, factors=FACTORS
    )
    assert "positions" not in head["decomposition"]
    assert list(head["decomposition"]) == [k for k in DECOMPOSITION_KEY_ORDER if k != "positions"]


def test_stored_document_reads_back_in_order_and_validates():
    p = ROW["OPT"]
    head = headline(
        RESULT, p, external_id="OPT", as_of=T, run_id="r", data_as_of=T, factors=FACTORS
    )
    rows = decomposition_rows(RESULT, BOOKS, rows_of("OPT").tolist())
    built = assemble(json.loads(json.dumps(head)), [], None, FACTORS, rows)
    assert [k for k in built if k in KEY_ORDER] == [k for k in KEY_ORDER if k in built]
    assert list(built)[-3:] == ["decomposition", "benchmark", "warnings"]
    assert list(built["decomposition"]) == list(DECOMPOSITION_KEY_ORDER)
    # JSONB does not keep key order: a stored headline comes back with sorted keys
    stored = assemble(json.loads(json.dumps(head, sort_keys=True)), [], None, FACTORS, rows)
    assert stored == built
    # the typed document (what the API and export write) restores every block's key order
    read = RiskDocument.model_validate(stored).as_json()
    for key in ("decomposition", "benchmark"):
        assert json.dumps(read[key]) == json.dumps(built[key])
    typed = RiskDocument.model_validate(built)
    assert typed.decomposition is not None and typed.benchmark is not None
    assert typed.decomposition.factor is not None
    assert len(typed.decomposition.positions) == len(rows)
    assert json.dumps(typed.as_json()) == json.dumps(built)
    json.dumps(built, allow_nan=False)


# ------------------------------------------------------------------ null, never 0


def test_unvalued_book_has_null_blocks_and_a_warning():
    doc = document("UNKNOWN")
    assert doc["decomposition"] is None and doc["benchmark"] is None
    assert any("ZZZZ" in w for w in doc["warnings"])
    assert np.isnan(RESULT.position_decomposition["ctr_daily"][rows_of("UNKNOWN")]).all()


def _with_listing(sessions_listed: int) -> tuple[Any, Books]:
    """One book holding NEW, priced only on the last ``sessions_listed`` sessions."""
    prices = np.full(len(DATES), np.nan)
    prices[-sessions_listed:] = 50.0 * np.cumprod(1 + 0.01 * np.sin(np.arange(sessions_listed)))
    panel = dataclasses.replace(
        PANEL,
        symbols=(*PANEL.symbols, "NEW"),
        prices=np.column_stack([PANEL.prices, prices]),
    )
    books = make_books({"NEWBOOK": (1_000.0, 0.04, (Pos("NEW", 10),))})
    return compute_books(prepare_market(panel), books, SCENARIOS), books


def test_one_return_gives_null_blocks_with_a_warning():
    result, books = _with_listing(2)
    assert result.risk["full"]["n_obs"][0] == 1
    doc = document("NEWBOOK", result, books)
    assert doc["decomposition"] is None and doc["benchmark"] is None
    assert any("at least 2 daily returns" in w for w in doc["warnings"])
    assert np.isnan(result.position_decomposition["cvar_95"]).all()


def test_short_history_gives_null_factor_split_and_active_beta_with_warnings():
    result, books = _with_listing(4)
    doc = document("NEWBOOK", result, books)
    block = doc["decomposition"]
    assert block["n_obs"] == 3
    assert block["factor"] is None
    assert doc["benchmark"]["active_beta"] is None
    assert doc["benchmark"]["tracking_error"] > 0
    assert any("factor risk split" in w for w in doc["warnings"])
    assert any("only 3 daily returns" in w for w in doc["warnings"])
    assert block["positions"][0]["ctr_share"] == pytest.approx(1.0, rel=SUM)


def test_cash_only_book_is_not_decomposed_and_says_why():
    books = make_books({"CASH": (10_000.0, 0.04, ())})
    result = compute_books(MARKET, books, SCENARIOS)
    doc = document("CASH", result, books)
    assert doc["decomposition"] is None
    assert any("zero volatility" in w for w in doc["warnings"])
    spy = RETURNS["SPY"]
    assert doc["benchmark"]["tracking_error"] == pytest.approx(spy.std() * math.sqrt(252), rel=REF)
    assert doc["benchmark"]["active_beta"] == pytest.approx(-1.0, abs=1e-12)


def test_sector_input_must_match_the_positions():
    broken = dataclasses.replace(BOOKS, sector=("Energy",))
    with pytest.raises(ValueError, match="sector"):
        compute_books(MARKET, broken, SCENARIOS)


def test_books_without_sectors_group_under_unknown():
    books = dataclasses.replace(BOOKS, sector=())
    result = compute_books(MARKET, books, SCENARIOS)
    p = ROW["LONG"]
    groups = result.decomposition_groups["sector"]
    assert groups.labels[groups.offsets[p] : groups.offsets[p + 1]] == ("Unknown",)

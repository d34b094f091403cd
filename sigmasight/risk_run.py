"""The nightly risk run's steps: prepare once, compute and write per chunk, then flip.

``tasks/risk.py`` wraps these one to one; ``sigmasight export risk`` reads with
:func:`export_documents`. Each chunk computes and writes in one transaction and reports a
status per portfolio; one portfolio that fails is isolated and reported, not fatal.
"""

import bisect
import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy.orm import Session

from models import PortfolioSnapshot
from sigmasight.db import session_scope
from sigmasight.domain import InputError, ScenarioSpec
from sigmasight.repositories import results as results_repo
from sigmasight.repositories import risk_inputs
from sigmasight.risk import document as doc
from sigmasight.risk.engine import (
    BookResults,
    Books,
    Market,
    Panel,
    Scenario,
    compute_books,
    prepare_market,
)
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import sessions

log = logging.getLogger(__name__)


class RiskDataError(RuntimeError):
    """The database lacks what the run needs (no prices for the date, no factor ETFs)."""


@dataclass(frozen=True)
class RiskInputs:
    """Everything chunks share: the prepared market, scenarios and the chunk plan."""

    as_of: dt.date
    market: Market
    factors: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    chunks: tuple[tuple[int, ...], ...]
    default_rate: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_portfolios(self) -> int:
        """Portfolios in the run."""
        return sum(len(c) for c in self.chunks)


@dataclass(frozen=True)
class ChunkReport:
    """Per-portfolio statuses and what the chunk wrote."""

    statuses: dict[str, str]
    errors: dict[str, str]
    written: dict[str, int]
    timings: dict[str, float]
    summary: list[dict[str, Any]]


def _scenario_vectors(
    specs: Sequence[ScenarioSpec], factors: Sequence[str]
) -> tuple[Scenario, ...]:
    # A factor the scenario does not shock is NaN, so its P&L is null rather than made up.
    return tuple(
        Scenario(
            name=s.name,
            shocks=np.array([s.shocks.get(f, np.nan) for f in factors], dtype=np.float64),
            rate_pp=s.rate_shock_pp,
        )
        for s in specs
    )


def prepare_risk(as_of: dt.date, *, chunk_size: int, lookback_sessions: int) -> RiskInputs:
    """Load the price panel once and derive returns, betas and correlations for the run."""
    started = time.perf_counter()
    settings = get_settings()
    days = sessions(as_of - dt.timedelta(days=int(lookback_sessions * 1.6) + 10), as_of)[
        -(lookback_sessions + 1) :
    ]
    if not days or days[-1] != as_of:
        raise RiskDataError(f"{as_of} is not an NYSE session")
    with session_scope() as session:
        factors = tuple(risk_inputs.load_factors(session))
        held = risk_inputs.held_symbols(session)
        ids = risk_inputs.list_portfolio_ids(session)
        specs = risk_inputs.load_scenarios(session)
        symbols = sorted({*held, *factors, settings.benchmark})
        data = risk_inputs.load_panel(session, symbols, start=days[0], end=as_of)
        rates = risk_inputs.load_rates(
            session, "DGS10", start=days[0] - dt.timedelta(days=14), end=as_of
        )
    loaded = time.perf_counter()
    if not factors:
        raise RiskDataError("no factor ETFs are defined: seed or import a bundle first")
    if not data.dates or data.dates[-1] != as_of:
        latest = data.dates[-1] if data.dates else "none"
        raise RiskDataError(
            f"no prices stored for {as_of} (latest: {latest}); run market-data for {as_of} first"
        )
    missing = [
        f
        for f in (*factors, settings.benchmark)
        if np.isnan(data.adj_close[-1, data.symbols.index(f)])
    ]
    if missing:
        raise RiskDataError(f"no {as_of} price for factor/benchmark ETF(s) {', '.join(missing)}")
    rate_dates = [d for d, _ in rates]
    rate_pp = np.array(
        [
            rates[i - 1][1] if (i := bisect.bisect_right(rate_dates, d)) else np.nan
            for d in data.dates
        ],
        dtype=np.float64,
    )
    panel = Panel(
        dates=data.dates,
        symbols=data.symbols,
        prices=data.adj_close,
        rate_pp=rate_pp,
        factors=factors,
        benchmark=settings.benchmark,
    )
    market = prepare_market(panel, corr_symbols=tuple(held))
    chunks = tuple(tuple(ids[i : i + chunk_size]) for i in range(0, len(ids), chunk_size))
    return RiskInputs(
        as_of=as_of,
        market=market,
        factors=factors,
        scenarios=_scenario_vectors(specs, factors),
        chunks=chunks,
        default_rate=settings.risk_free_rate,
        timings={
            "load_s": round(loaded - started, 3),
            "prepare_s": round(time.perf_counter() - loaded, 3),
        },
    )


def _books(
    rows: risk_inputs.BookRows, as_of: dt.date, default_rate: float
) -> tuple[Books, list[str], list[int]]:
    portfolios, positions = rows.portfolios, rows.positions
    row_of = {int(pid): i for i, pid in enumerate(portfolios["id"])}
    is_option = positions["underlying"].notna().to_numpy()
    expiry = positions["expiry"]
    years = np.array(
        [(e - as_of).days / 365.0 if isinstance(e, dt.date) else np.nan for e in expiry],
        dtype=np.float64,
    )
    rate = portfolios["risk_free_rate"].astype("float64").fillna(default_rate).to_numpy()
    books = Books(
        portfolio_ids=portfolios["id"].to_numpy(dtype=np.int64),
        cash=portfolios["cash"].astype("float64").to_numpy(),
        rate=rate,
        pos_portfolio=np.array([row_of[int(p)] for p in positions["portfolio_id"]], dtype=np.int64),
        pos_symbol=tuple(positions["symbol"]),
        pos_asset=tuple(np.where(is_option, positions["underlying"], positions["symbol"])),
        quantity=positions["quantity"].astype("float64").to_numpy(),
        is_option=is_option,
        multiplier=positions["multiplier"].astype("float64").fillna(1.0).to_numpy(),
        strike=positions["strike"].astype("float64").to_numpy(),
        years=years,
        is_call=(positions["right"] == "call").to_numpy(),
        implied_vol=positions["implied_vol"].astype("float64").to_numpy(),
        dividend_yield=positions["dividend_yield"].astype("float64").fillna(0.0).to_numpy(),
    )
    return books, list(portfolios["external_id"]), [int(i) for i in positions["id"]]


def _subset(books: Books, keep: int) -> Books:
    """The book of portfolio row ``keep`` alone (to isolate a failure)."""
    mask = books.pos_portfolio == keep
    return Books(
        portfolio_ids=books.portfolio_ids[[keep]],
        cash=books.cash[[keep]],
        rate=books.rate[[keep]],
        pos_portfolio=np.zeros(int(mask.sum()), dtype=np.int64),
        pos_symbol=tuple(s for s, m in zip(books.pos_symbol, mask, strict=True) if m),
        pos_asset=tuple(s for s, m in zip(books.pos_asset, mask, strict=True) if m),
        quantity=books.quantity[mask],
        is_option=books.is_option[mask],
        multiplier=books.multiplier[mask],
        strike=books.strike[mask],
        years=books.years[mask],
        is_call=books.is_call[mask],
        implied_vol=books.implied_vol[mask],
        dividend_yield=books.dividend_yield[mask],
    )


def _compute_isolating(
    inputs: RiskInputs, books: Books
) -> tuple[list[tuple[Books, BookResults, list[int]]], dict[int, str]]:
    """Compute the whole chunk; if that fails, each portfolio alone so one bad book is isolated."""
    try:
        return [
            (
                books,
                compute_books(inputs.market, books, inputs.scenarios),
                list(range(books.portfolio_ids.size)),
            )
        ], {}
    except Exception as exc:  # a defect in one book must not sink the others
        log.warning("chunk failed as a whole (%s); computing portfolios one by one", exc)
    parts: list[tuple[Books, BookResults, list[int]]] = []
    errors: dict[int, str] = {}
    for p in range(books.portfolio_ids.size):
        single = _subset(books, p)
        try:
            parts.append((single, compute_books(inputs.market, single, inputs.scenarios), [p]))
        except Exception as exc:
            errors[p] = f"{type(exc).__name__}: {exc}"
    return parts, errors


def _dumps(value: Any) -> str:
    # orjson writes NaN as null and numpy arrays natively: several times faster than json.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _part_frames(
    inputs: RiskInputs,
    books: Books,
    external_ids: Sequence[str],
    position_ids: "np.ndarray[tuple[int], np.dtype[np.int64]]",
    part: tuple[Books, BookResults, list[int]],
    run_id: uuid.UUID,
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[dict[str, Any]]]:
    """Every result row of one computed part, built column-wise."""
    part_books, result, members = part
    as_of = inputs.as_of
    members_arr = np.asarray(members, dtype=np.int64)
    pids = books.portfolio_ids[members_arr]
    nav = result.valuation["nav"]
    n_p = len(members)
    data_as_of = inputs.market.panel.dates[-1]

    statuses: dict[str, str] = {}
    summary: list[dict[str, Any]] = []
    heads: list[str] = []
    warnings: list[str] = []
    status_col: list[str] = []
    for local, p in enumerate(members):
        ext = external_ids[p]
        head = doc.headline(
            result,
            local,
            external_id=ext,
            as_of=as_of,
            run_id="",
            data_as_of=data_as_of,
            factors=inputs.factors,
        )
        del head["run_id"]  # injected on read from the row, so a rerun leaves the row as it was
        status = (
            "incomplete"
            if not np.isfinite(nav[local])
            else ("warnings" if head["warnings"] else "ok")
        )
        statuses[ext] = status
        status_col.append(status)
        heads.append(_dumps(head))
        warnings.append(_dumps(head["warnings"]))
        var95 = head["risk"]["full"]["hist_var_95"]
        summary.append(
            {
                "portfolio": ext,
                "status": status,
                "nav": doc.num(nav[local]),
                "var95": var95["currency"],
                "beta_spy": head["beta_spy"]["150d"],
                "warnings": len(head["warnings"]),
            }
        )
    full = result.risk["full"]
    snapshots = pd.DataFrame(
        {
            "portfolio_id": pids,
            "as_of_date": as_of,
            "run_id": str(run_id),
            "status": status_col,
            **{
                k: result.valuation[k]
                for k in (
                    "nav",
                    "cash",
                    "long_mv",
                    "short_mv",
                    "gross_exposure",
                    "net_exposure",
                    "daily_pnl",
                    "daily_return",
                )
            },
            "hist_var_95": full["hist_var_95"],
            "hist_var_99": full["hist_var_99"],
            "cvar_95": full["cvar_95"],
            "beta_spy": result.beta_spy["150d"],
            "document": heads,
            "warnings": warnings,
        }
    )

    if n_p == books.portfolio_ids.size:
        global_rows = np.arange(books.quantity.size)
    else:
        global_rows = np.concatenate([np.flatnonzero(books.pos_portfolio == p) for p in members])
    factor_betas = result.position_factor_betas
    positions = pd.DataFrame(
        {
            "portfolio_id": pids[part_books.pos_portfolio],
            "position_id": position_ids[global_rows],
            "as_of_date": as_of,
            "run_id": str(run_id),
            "symbol": list(part_books.pos_symbol),
            "quantity": part_books.quantity,
            "underlying": [
                asset if is_option else None
                for asset, is_option in zip(
                    part_books.pos_asset, part_books.is_option.tolist(), strict=True
                )
            ],
            **{
                k: result.positions[k]
                for k in ("price", "market_value", "exposure", "weight", "daily_pnl")
            },
            **{k: result.position_greeks[k] for k in doc.GREEK_KEYS},
            "beta_spy_150d": result.position_beta_150,
            "factor_betas": [
                _dumps(dict(zip(inputs.factors, row.tolist(), strict=True))) for row in factor_betas
            ],
        }
    )

    k = len(inputs.factors)
    betas = result.factor_betas.reshape(-1)
    factors = pd.DataFrame(
        {
            "portfolio_id": np.repeat(pids, k),
            "as_of_date": as_of,
            "run_id": str(run_id),
            "factor_symbol": np.tile(np.asarray(inputs.factors, dtype=object), n_p),
            "beta": betas,
            "exposure_usd": betas * np.repeat(nav, k),
            "window": 150,
            "n_obs": np.repeat(result.factor_n_obs, k),
            "r2": np.repeat(result.factor_r2, k),
        }
    )

    correlations = pd.DataFrame(
        {
            "portfolio_id": pids,
            "as_of_date": as_of,
            "run_id": str(run_id),
            "symbols": [_dumps(symbols) for symbols, _, _ in result.correlation],
            "matrix": [_dumps(matrix) for _, matrix, _ in result.correlation],
            "min_overlap": 60,
            "clusters": [_dumps(found) for _, _, found in result.correlation],
        }
    )

    n_s = len(result.stress_names)
    names = np.tile(np.asarray(result.stress_names, dtype=object), n_p)
    safe_nav = np.where(np.isfinite(nav) & (nav != 0), nav, np.nan)
    frames = [
        pd.DataFrame(
            {
                "portfolio_id": np.repeat(pids, n_s),
                "as_of_date": as_of,
                "run_id": str(run_id),
                "scenario": names,
                "method": "linear",
                "return_impact": (result.stress_linear / safe_nav[:, None]).reshape(-1),
                "pnl": result.stress_linear.reshape(-1),
            }
        )
    ]
    with_options = np.flatnonzero(result.has_options)
    if with_options.size:
        full_pnl = result.stress_full[with_options]
        frames.append(
            pd.DataFrame(
                {
                    "portfolio_id": np.repeat(pids[with_options], n_s),
                    "as_of_date": as_of,
                    "run_id": str(run_id),
                    "scenario": np.tile(
                        np.asarray(result.stress_names, dtype=object), with_options.size
                    ),
                    "method": "full_revaluation",
                    "return_impact": (full_pnl / safe_nav[with_options, None]).reshape(-1),
                    "pnl": full_pnl.reshape(-1),
                }
            )
        )
    tables = {
        "portfolio_snapshot": snapshots,
        "position_risk": positions,
        "factor_exposure": factors,
        "correlation_result": correlations,
        "stress_result": pd.concat(frames, ignore_index=True),
    }
    return tables, statuses, summary


def run_chunk(inputs: RiskInputs, portfolio_ids: Sequence[int], run_id: uuid.UUID) -> ChunkReport:
    """Compute and write one chunk in one transaction; report a status per portfolio."""
    t0 = time.perf_counter()
    with session_scope() as session:
        rows = risk_inputs.load_books(session, portfolio_ids)
    books, external_ids, position_ids = _books(rows, inputs.as_of, inputs.default_rate)
    t1 = time.perf_counter()
    parts, errors = _compute_isolating(inputs, books)
    t2 = time.perf_counter()
    statuses: dict[str, str] = {external_ids[p]: "error" for p in errors}
    summary: list[dict[str, Any]] = []
    collected: dict[str, list[pd.DataFrame]] = {}
    ids = np.asarray(position_ids, dtype=np.int64)
    for part in parts:
        tables, part_statuses, part_summary = _part_frames(
            inputs, books, external_ids, ids, part, run_id
        )
        statuses.update(part_statuses)
        summary.extend(part_summary)
        for name, frame in tables.items():
            collected.setdefault(name, []).append(frame)
    frames = {name: pd.concat(parts_, ignore_index=True) for name, parts_ in collected.items()}
    t3 = time.perf_counter()
    written: dict[str, int] = {}
    if frames:
        with session_scope() as session:
            written = results_repo.save_chunk(session, frames)
    t4 = time.perf_counter()
    return ChunkReport(
        statuses=statuses,
        errors={external_ids[p]: message for p, message in errors.items()},
        written=written,
        timings={
            "load_books_s": round(t1 - t0, 3),
            "compute_s": round(t2 - t1, 3),
            "build_rows_s": round(t3 - t2, 3),
            "write_s": round(t4 - t3, 3),
        },
        summary=summary,
    )


def finish_risk(as_of: dt.date, portfolio_ids: Sequence[int]) -> int:
    """Flip ``is_current`` to the ``as_of`` snapshots in one transaction (only after success)."""
    with session_scope() as session:
        return results_repo.flip_current(session, as_of, portfolio_ids)


def export_documents(as_of: dt.date | None, external_id: str | None = None) -> list[dict[str, Any]]:
    """Stored ``sigmasight.risk/1`` documents for ``as_of`` (or the current ones)."""
    with session_scope() as session:
        found = results_repo.snapshots_for(session, as_of, external_id)
        if external_id is not None and not found:
            when = as_of.isoformat() if as_of else "the current snapshot"
            raise InputError(f"--portfolio {external_id}: no risk results for {when}")
        documents = [stored_document(session, snap) for snap, _ in found]
    return documents


def stored_document(session: Session, snap: PortfolioSnapshot) -> dict[str, Any]:
    """One snapshot's full ``sigmasight.risk/1`` document, joined from its stored parts."""
    stored = dict(snap.document or {})
    head: dict[str, Any] = {}
    for key in ("schema", "portfolio_id", "as_of"):
        if key in stored:
            head[key] = stored.pop(key)
    head["run_id"] = str(snap.run_id)
    head.update(stored)
    rows = results_repo.positions_for(session, snap.portfolio_id, snap.as_of_date)
    corr = results_repo.correlation_for(session, snap.portfolio_id, snap.as_of_date)
    return doc.assemble(
        head,
        [position_entry(row) for row in rows],
        doc.correlation_block(corr.symbols, corr.matrix) if corr else None,
        tuple(risk_inputs.load_factors(session)),
    )


def position_entry(row: Any) -> dict[str, Any]:
    """A stored position row as the document's ``positions`` entry."""
    entry: dict[str, Any] = {"symbol": row.symbol, "quantity": row.quantity}
    if row.underlying is not None:
        entry["underlying"] = row.underlying
    entry.update(
        price=row.price, market_value=row.market_value, exposure=row.exposure, weight=row.weight
    )
    if row.underlying is not None:
        entry["greeks"] = {key: getattr(row, key) for key in doc.GREEK_KEYS}
    return entry

"""The risk engine's inputs and outputs as table rows (pure: no database, no I/O).

:func:`books_from_rows` turns a chunk's stored books (``repositories.risk_inputs.load_books``) into the
engine's :class:`~sigmasight.risk.engine.Books`; :func:`result_frames` turns the engine's
results into one column-wise frame per result table, ready for ``repositories.results``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from sigmasight.documents import RiskDocument
from sigmasight.risk import document as doc
from sigmasight.risk.engine import BookResults, Books


def books_from_rows(
    portfolios: pd.DataFrame, positions: pd.DataFrame, as_of: dt.date, default_rate: float
) -> tuple[Books, list[str], list[int]]:
    """A chunk's stored books as engine arrays, with external ids and position ids.

    ``portfolios`` and ``positions`` have the columns of ``repositories.risk_inputs.BookRows``.
    """
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
        sector=tuple(s if isinstance(s, str) and s else None for s in positions["sector"]),
    )
    return books, list(portfolios["external_id"]), [int(i) for i in positions["id"]]


def subset(books: Books, keep: int) -> Books:
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
        sector=tuple(s for s, m in zip(books.sector, mask, strict=True) if m)
        if books.sector
        else (),
    )


def dumps(value: Any) -> str:
    """Compact JSON text (NaN as null, numpy arrays natively)."""
    # orjson writes NaN as null and numpy arrays natively: several times faster than json.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def result_frames(
    *,
    as_of: dt.date,
    data_as_of: dt.date,
    factors: Sequence[str],
    books: Books,
    external_ids: Sequence[str],
    position_ids: "np.ndarray[tuple[int], np.dtype[np.int64]]",
    part: tuple[Books, BookResults, list[int]],
    run_id: uuid.UUID,
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[dict[str, Any]]]:
    """Every result row of one computed part, built column-wise, per result table.

    Also returns each portfolio's status and its summary row for the run's artifact.
    """
    part_books, result, members = part
    members_arr = np.asarray(members, dtype=np.int64)
    pids = books.portfolio_ids[members_arr]
    nav = result.valuation["nav"]
    n_p = len(members)

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
            factors=factors,
        )
        figures = RiskDocument.model_validate(head).headline()
        del head["run_id"]  # injected on read from the row, so a rerun leaves the row as it was
        status = (
            "incomplete"
            if not np.isfinite(nav[local])
            else ("warnings" if head["warnings"] else "ok")
        )
        statuses[ext] = status
        status_col.append(status)
        heads.append(dumps(head))
        warnings.append(dumps(head["warnings"]))
        summary.append(
            {
                "portfolio": ext,
                "status": status,
                "nav": figures.nav,
                "var95": figures.var_95,
                "beta_spy": figures.beta_spy,
                "warnings": figures.warnings,
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
    decomposition = result.position_decomposition
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
            # decomposition.positions is rebuilt from these (documents._joined).
            "mctr_daily": decomposition["mctr_daily"],
            "ctr_daily": decomposition["ctr_daily"],
            "param_var_95_component": decomposition["param_var_95"],
            "cvar_95_component": decomposition["cvar_95"],
            "factor_betas": [
                dumps(dict(zip(factors, row.tolist(), strict=True))) for row in factor_betas
            ],
        }
    )

    k = len(factors)
    betas = result.factor_betas.reshape(-1)
    factor_frame = pd.DataFrame(
        {
            "portfolio_id": np.repeat(pids, k),
            "as_of_date": as_of,
            "run_id": str(run_id),
            "factor_symbol": np.tile(np.asarray(factors, dtype=object), n_p),
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
            "symbols": [dumps(symbols) for symbols, _, _ in result.correlation],
            "matrix": [dumps(matrix) for _, matrix, _ in result.correlation],
            "min_overlap": 60,
            "clusters": [dumps(found) for _, _, found in result.correlation],
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
        "factor_exposure": factor_frame,
        "correlation_result": correlations,
        "stress_result": pd.concat(frames, ignore_index=True),
    }
    return tables, statuses, summary

"""Benchmark: what corporate actions add to the nightly-risk load stage (issue 12).

Target: applying the stored actions while loading costs at most 10 % of the nightly-risk
benchmark's load stage (``load_s`` + ``load_books_s``: the price panel, then every chunk's
books).

Setup (not timed), as ``bench.nightly_risk`` builds it in a scratch database: synthetic bars
for 3,000 symbols x 400 sessions, 10,000 portfolios x 50 positions. Then the actions of a
dividend feed with two years of history: 60 % of the stocks and every factor ETF pay a
quarterly dividend (ex-dates from 100 sessions before the panel to its last date), and 1 %
of the stocks split once inside the panel (2-for-1, 3-for-1, 4-for-1 or 1-for-10).

Timed, ``--repeat`` times each, alternating (and alternating which goes first), medians
reported:

1. the load stage with no action stored: ``load_market``'s ``load_s`` (held symbols, the
   panel, the run's action ledger) and ``load_timelines`` + ``previous_snapshots`` for every
   chunk (``load_books_s``), as ``runs.risk`` runs them;
2. the same with the actions stored;
3. the per-date adjustment ``market_on`` adds: ``_cut`` of the date's window and of the
   previous session's window with the actions, minus without.

The verdict's ratio: the parts timed on their own (the action reads: ``load_actions`` and
the run's ``load_book_actions`` + ledger; what the ledger adds to building every chunk's
timelines from the same rows; 3), over 1. The end-to-end difference (2 - 1 + 3) / 1 is
printed too; on a shared machine it carries the noise of two whole loads. Also printed: what
the dividends add to reading every book in effect (``state_on``, part of the compute stage).

Usage: ``.venv/bin/python -m bench.corporate_actions [--portfolios 10000] [--positions 50]
[--symbols 3000] [--days 400] [--repeat 4]``
"""

import argparse
import dataclasses
import datetime as dt
import io
import statistics
import time
from typing import Any

import numpy as np
import psycopg

from bench.common import scratch_database
from bench.nightly_risk import conninfo, setup
from sigmasight import db as sdb
from sigmasight.books import NO_ACTIONS, ActionLedger, Timeline, timeline
from sigmasight.dated_risk import MarketInputs, _cut, load_inputs, previous_of
from sigmasight.domain import DEFAULT_FACTORS
from sigmasight.repositories import results as results_repo
from sigmasight.repositories import risk_inputs
from sigmasight.runs import risk as risk_run
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_sessions, sessions

TARGET = 0.10
DIVIDEND_SHARE = 0.6
SPLIT_SHARE = 0.01
SPLIT_RATIOS = ("2", "3", "4", "0.1")


def store_actions(symbols: list[str], days: list[dt.date], seed: int = 12) -> tuple[int, int]:
    """Dividends and splits by COPY; returns (dividends, splits)."""
    rng = np.random.default_rng(seed)
    history = sessions(days[0] - dt.timedelta(days=160), days[-1])[-(len(days) + 100) :]
    stocks = [s for s in symbols if s not in DEFAULT_FACTORS]
    payers = [*DEFAULT_FACTORS, *(s for s in stocks if rng.random() < DIVIDEND_SHARE)]
    rows: list[tuple[str, dt.date, str, str]] = []
    for symbol in payers:
        for i in range(int(rng.integers(0, 63)), len(history), 63):
            rows.append((symbol, history[i], "cash_dividend", f"{rng.uniform(0.05, 0.5):.4f}"))
    n_dividends = len(rows)
    for symbol in rng.choice(stocks, size=max(1, round(len(stocks) * SPLIT_SHARE)), replace=False):
        day = days[int(rng.integers(1, len(days)))]
        rows.append((str(symbol), day, "split", str(rng.choice(SPLIT_RATIOS))))
    buffer = io.StringIO()
    for symbol, day, kind, value in rows:
        buffer.write(f"{symbol},{day.isoformat()},{kind},{value},synthetic\n")
    with psycopg.connect(conninfo()) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY corporate_action (symbol, ex_date, kind, value, source) FROM STDIN (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE corporate_action")
    return n_dividends, len(rows) - n_dividends


def drop_actions() -> None:
    with psycopg.connect(conninfo()) as conn:
        conn.execute("TRUNCATE corporate_action")


def portfolio_chunks(size: int) -> list[list[int]]:
    with sdb.session_scope() as session:
        ids = risk_inputs.list_portfolio_ids(session)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def load_stage(as_of: dt.date, chunks: list[list[int]]) -> dict[str, float]:
    """The nightly's load stage, timed as its steps time it (``load_s``, ``load_books_s``)."""
    settings = get_settings()
    prepared = risk_run.load_market(settings, as_of)
    state_s = books_s = 0.0
    for ids in chunks:
        t0 = time.perf_counter()
        with sdb.session_scope() as session:
            rows = risk_inputs.load_timelines(
                session, ids, through=as_of, actions=prepared.book_actions
            )
            previous_of(results_repo.previous_snapshots(session, ids, before=as_of))
        t1 = time.perf_counter()
        for line in rows.timelines.values():
            line.state_on(as_of)
        state_s += time.perf_counter() - t1
        books_s += t1 - t0
    return {"load_s": prepared.timings["load_s"], "load_books_s": books_s, "state_on_s": state_s}


def market_inputs(as_of: dt.date) -> MarketInputs:
    with sdb.session_scope() as session:
        held = risk_inputs.held_symbols(session, as_of)
        return load_inputs(session, get_settings(), as_of, as_of, held)


def reading_seconds(as_of: dt.date, inputs: MarketInputs) -> float:
    """The action reads of the load stage alone: the panel's, and the run's ledger."""
    with sdb.session_scope() as session:
        t0 = time.perf_counter()
        risk_inputs.load_actions(session, inputs.panel.symbols, after=inputs.start, through=as_of)
        ActionLedger(risk_inputs.load_book_actions(session, None, through=as_of))
        return time.perf_counter() - t0


def building_seconds(as_of: dt.date, chunks: list[list[int]], repeat: int = 3) -> float:
    """What the run's ledger adds to building every chunk's timelines from their rows."""
    with sdb.session_scope() as session:
        ledger = ActionLedger(risk_inputs.load_book_actions(session, None, through=as_of))
    added = 0.0
    for ids in chunks:
        with sdb.session_scope() as session:
            lines = list(
                risk_inputs.load_timelines(
                    session, ids, through=as_of, actions=NO_ACTIONS
                ).timelines.values()
            )
        with_actions = statistics.median(_build(lines, ledger) for _ in range(repeat))
        added += with_actions - statistics.median(_build(lines, NO_ACTIONS) for _ in range(repeat))
    return max(0.0, added)


def _build(lines: list[Timeline], actions: ActionLedger) -> float:
    t0 = time.perf_counter()
    for line in lines:
        timeline(line.books, line.trades, line.flows, actions)
    return time.perf_counter() - t0


def adjustment_seconds(inputs: MarketInputs, as_of: dt.date, repeat: int = 5) -> float:
    """What the actions add to cutting the date's and the previous session's windows."""
    symbols = tuple(inputs.panel.symbols)
    days = last_sessions(as_of, inputs.lookback + 1)
    before = last_sessions(days[-2], inputs.lookback + 1)
    bare = dataclasses.replace(inputs, actions=None)

    def cut(source: MarketInputs) -> float:
        t0 = time.perf_counter()
        _cut(source, days[0], as_of, symbols)
        _cut(source, before[0], days[-2], symbols)
        return time.perf_counter() - t0

    with_actions = statistics.median(cut(inputs) for _ in range(repeat))
    without = statistics.median(cut(bare) for _ in range(repeat))
    return max(0.0, with_actions - without)


def main() -> None:
    """Set up, time the load stage with and without actions, print the ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    with scratch_database():
        started = time.perf_counter()
        universe = setup(args.symbols, args.days, args.portfolios, args.positions)
        chunks = portfolio_chunks(get_settings().risk_chunk_size)
        dividends, splits = store_actions(universe.symbols, universe.days)
        drop_actions()
        print(
            f"1. setup {time.perf_counter() - started:.1f} s: {len(universe.symbols):,} symbols x "
            f"{len(universe.days)} sessions, {universe.n_portfolios:,} portfolios, "
            f"{universe.n_positions:,} positions; actions: {dividends:,} dividends, {splits} splits"
        )
        runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
        direct: dict[str, list[float]] = {"reads": [], "build": [], "adjust": []}
        for i in range(args.repeat):
            # Alternate which load goes first, so neither always follows the other's writes.
            for kind in ("without", "with") if i % 2 == 0 else ("with", "without"):
                if kind == "without":
                    runs["without"].append(load_stage(universe.as_of, chunks))
                    continue
                store_actions(universe.symbols, universe.days)
                runs["with"].append(load_stage(universe.as_of, chunks))
                inputs = market_inputs(universe.as_of)
                direct["reads"].append(reading_seconds(universe.as_of, inputs))
                direct["build"].append(building_seconds(universe.as_of, chunks))
                direct["adjust"].append(adjustment_seconds(inputs, universe.as_of))
                drop_actions()
        med: dict[str, dict[str, Any]] = {
            kind: {k: statistics.median(r[k] for r in found) for k in found[0]}
            for kind, found in runs.items()
        }
        parts = {k: statistics.median(v) for k, v in direct.items()}
        stages = [r["load_s"] + r["load_books_s"] for r in runs["without"]]
        base = med["without"]["load_s"] + med["without"]["load_books_s"]
        loaded = med["with"]["load_s"] + med["with"]["load_books_s"]
        print(f"\n2. load stage, seconds (medians of {args.repeat})")
        print(f"   {'stage':<34}{'no actions':>12}{'actions':>12}{'added':>10}")
        for stage in ("load_s", "load_books_s"):
            a, b = med["without"][stage], med["with"][stage]
            print(f"   {stage:<34}{a:>12.3f}{b:>12.3f}{b - a:>+10.3f}")
        print(f"   {'load stage':<34}{base:>12.3f}{loaded:>12.3f}{loaded - base:>+10.3f}")
        print(
            f"   (the load stage without actions ranged {min(stages):.3f}-{max(stages):.3f} s "
            "over the repeats: other work on the machine)"
        )
        print("\n3. what applying the actions costs, each part timed on its own (medians)")
        labels = {
            "reads": "reading them (panel + run ledger)",
            "build": "building the books with them",
            "adjust": "adjusting the date's two windows",
        }
        for key, label in labels.items():
            print(f"   {label:<40}{parts[key]:>8.3f} s")
        cost = sum(parts.values())
        ratio = cost / base
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(
            f"   total {cost:.3f} s = {ratio:.1%} of the load stage "
            f"(target <= {TARGET:.0%}): {verdict}"
        )
        end_to_end = (loaded - base + parts["adjust"]) / base
        print(f"   end to end (load with - without, + the adjustment): {end_to_end:.1%}")
        a, b = med["without"]["state_on_s"], med["with"]["state_on_s"]
        print(
            f"   (compute stage, for information: every book in effect read in {a:.3f} s without "
            f"actions, {b:.3f} s with the dividends summed in)"
        )


if __name__ == "__main__":
    main()

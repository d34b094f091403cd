"""Benchmark: ``sigmasight import prices`` against a raw COPY of the same file.

Target (issue 2): importing a 1,000,000-row long CSV into the indexed ``price_bar`` table
reaches at least 0.5x the rows/s of a raw ``COPY`` of the same file into the same table,
both measured here, in the same run, alternating, each from an empty table.

Usage: ``.venv/bin/python -m bench.import_prices [--rows 1000000] [--repeat 2]``

It works in a scratch database on the embedded server (or on the server of DATABASE_URL,
whose role must be allowed to create databases) and drops it afterwards.
"""

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import URL

from bench.common import scratch_database
from sigmasight import db as sdb
from sigmasight.runs.imports import import_prices_file
from sigmasight.trading_calendar import sessions


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Write a long-shape CSV of ``rows`` bars: symbols x trading days of random walks."""
    days = sessions(dt.date(2021, 1, 4), dt.date(2025, 12, 31))[:500]
    n_symbols = -(-rows // len(days))
    rng = np.random.default_rng(seed)
    symbols = np.array([f"S{i:05d}" for i in range(n_symbols)])
    returns = rng.normal(0.0003, 0.02, size=(n_symbols, len(days)))
    close = 50.0 * np.exp(np.cumsum(returns, axis=1))
    spread = np.abs(rng.normal(0, 0.01, size=close.shape))
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, len(days)),
            "date": np.tile([d.isoformat() for d in days], n_symbols),
            "open": (close * (1 - spread / 2)).ravel(),
            "high": (close * (1 + spread)).ravel(),
            "low": (close * (1 - spread)).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(1_000, 5_000_000, size=close.size),
            "adj_close": close.ravel(),
        }
    ).head(rows)
    frame.to_csv(path, index=False, float_format="%.4f")


def raw_copy(url: URL, path: Path) -> float:
    """COPY the file as it is into price_bar; returns seconds."""
    conninfo = sdb.libpq_conninfo(url)
    with psycopg.connect(conninfo) as conn:
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY price_bar (symbol, price_date, open, high, low, close, volume, adj_close) "
                "FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
            path.open("rb") as handle,
        ):
            while chunk := handle.read(8 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - start


def reset(url: URL) -> None:
    """Empty the tables each run fills."""
    with psycopg.connect(sdb.libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("TRUNCATE price_bar, flow_run CASCADE")


def main() -> None:
    """Run the benchmark and print figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with scratch_database() as url:
        with psycopg.connect(sdb.libpq_conninfo(url), autocommit=True) as conn:
            # Only so the raw COPY can load the file as it is; the import sets source itself.
            conn.execute("ALTER TABLE price_bar ALTER COLUMN source SET DEFAULT 'raw'")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prices.csv"
            t0 = time.perf_counter()
            make_csv(path, args.rows)
            size_mb = path.stat().st_size / 1e6
            print(
                f"file: {args.rows:,} rows, {size_mb:.1f} MB, generated in {time.perf_counter() - t0:.1f} s"
            )
            raw_s, import_s = [], []
            for _ in range(args.repeat):
                reset(url)
                raw_s.append(raw_copy(url, path))
                reset(url)
                start = time.perf_counter()
                result = import_prices_file(path)
                import_s.append(time.perf_counter() - start)
                assert result.inserted == args.rows, result
            raw, imp = statistics.median(raw_s), statistics.median(import_s)
            print(
                f"raw COPY:          {args.rows / raw:>12,.0f} rows/s  (median {raw:.2f} s of {raw_s})"
            )
            print(
                f"sigmasight import: {args.rows / imp:>12,.0f} rows/s  (median {imp:.2f} s of {import_s})"
            )
            ratio = raw / imp
            print(
                f"ratio import/raw:  {ratio:.2f}  (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})"
            )


if __name__ == "__main__":
    main()

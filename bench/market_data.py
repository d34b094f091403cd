"""Benchmarks of the market-data path (issue 3).

1. Nightly incremental for a 5,000-symbol universe: the plan sends symbols that miss only the
   last session through Polygon's grouped-daily endpoint, one request for the whole market.
   A local HTTP server speaks Polygon's JSON; the figure is the number of requests and the
   wall time, against the per-symbol path (one range request per symbol) in the same run.
2. Ingest of 1,000,000 bars from the synthetic provider (generate, validate, upsert) against
   a raw COPY of the same rows into the same, empty, indexed table.

Usage: ``.venv/bin/python -m bench.market_data [--symbols 5000] [--bars 1000000]``
"""

import argparse
import datetime as dt
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import URL

from bench.common import scratch_database
from sigmasight import db as sdb
from sigmasight.market_data import Sessions, StoredRange, plan_fetches, validate_bars
from sigmasight.providers.polygon import PolygonClient
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.repositories.prices import upsert_bars
from sigmasight.trading_calendar import sessions

NEW_YORK = ZoneInfo("America/New_York")
KEY = "bench-key"


def _ms(day: dt.date, hour: int) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK).timestamp() * 1000)


def _bar(day: dt.date, price: float, hour: int) -> dict[str, Any]:
    return {
        "o": price,
        "h": price * 1.01,
        "l": price * 0.99,
        "c": price,
        "v": 1000.0,
        "t": _ms(day, hour),
    }


class _Polygon(BaseHTTPRequestHandler):
    """Grouped daily and per-ticker aggregates for a synthetic market of ``tickers``."""

    tickers: ClassVar[list[str]] = []
    requests: ClassVar[int] = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        path = self.path.split("?")[0]
        if path.startswith("/v2/aggs/grouped/"):
            day = dt.date.fromisoformat(path.rsplit("/", 1)[1])
            results = [{"T": t, **_bar(day, 100.0, 16)} for t in self.tickers]
        else:
            parts = path.split("/")
            day = dt.date.fromisoformat(parts[-1])
            results = [{**_bar(day, 100.0, 0)}]
        body = json.dumps(
            {"status": "OK", "resultsCount": len(results), "results": results}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the access log."""


@contextmanager
def polygon_server(tickers: list[str]) -> Iterator[str]:
    """A local Polygon look-alike; yields its base URL."""
    _Polygon.tickers = tickers
    _Polygon.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Polygon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def nightly_requests(n_symbols: int) -> None:
    """Requests and wall time of a one-session incremental: grouped path vs per-symbol path."""
    as_of = dt.date(2025, 11, 25)
    previous = dt.date(2025, 11, 24)
    calendar = Sessions(tuple(sessions(dt.date(2023, 1, 3), as_of)))
    tickers = [f"T{i:05d}" for i in range(n_symbols)]
    stored = {t: StoredRange(previous, previous, 1) for t in tickers}
    print(f"\n1. nightly incremental, {n_symbols:,} symbols one session behind")
    figures = {}
    with polygon_server(tickers) as url:
        for label, grouped in (("grouped path", True), ("per-symbol path", False)):
            jobs = plan_fetches(
                tickers, stored, as_of=as_of, sessions=calendar, backfill_years=2, grouped=grouped
            )
            _Polygon.requests = 0
            start = time.perf_counter()
            rows = 0
            with PolygonClient(api_key=KEY, base_url=url, per_minute=None) as client:
                for job in jobs:
                    if job.kind == "grouped":
                        frame = client.grouped_daily(job.start)
                        rows += int(frame["symbol"].isin(job.symbols).sum())
                    else:
                        rows += len(client.daily_bars(job.symbols[0], job.start, job.end))
            seconds = time.perf_counter() - start
            figures[label] = (_Polygon.requests, seconds)
            print(
                f"   {label:<16} {len(jobs):>6,} jobs {_Polygon.requests:>6,} requests {rows:>7,} bars {seconds:6.2f} s"
            )
    (g_req, g_s), (s_req, s_s) = figures["grouped path"], figures["per-symbol path"]
    print(
        f"   requests: {g_req} vs {s_req} ({s_req / g_req:,.0f}x fewer); wall: {s_s / g_s:,.1f}x faster"
    )


def ingest_vs_copy(url: URL, n_bars: int) -> None:
    """Synthetic provider -> validate -> upsert, against a raw COPY of the same rows."""
    days = 500
    n_symbols = -(-n_bars // days)
    symbols = [f"S{i:05d}" for i in range(n_symbols)]
    day_list = sessions(dt.date(2023, 1, 3), dt.date(2025, 12, 31))[:days]
    start, end = day_list[0], day_list[-1]
    print(
        f"\n2. ingest of {n_symbols * days:,} synthetic bars ({n_symbols:,} symbols x {days} sessions)"
    )
    conninfo = sdb.libpq_conninfo(url)

    def truncate() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("TRUNCATE price_bar")

    # Reference: the same rows, already serialised, COPYed straight into the table.
    frame = SyntheticProvider().bars_for(symbols, start, end)
    reference = frame.rename(columns={"date": "price_date"})[
        ["symbol", "price_date", "open", "high", "low", "close", "adj_close", "volume"]
    ].copy()
    reference["volume"] = reference["volume"].round().astype("int64")
    buffer = io.StringIO()
    reference.to_csv(buffer, index=False, header=False, float_format="%.6f")
    payload = buffer.getvalue().encode()
    truncate()
    with psycopg.connect(conninfo) as conn:
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY price_bar (symbol, price_date, open, high, low, close, adj_close, volume, source) "
                "FROM STDIN (FORMAT csv)"
            ) as copy,
        ):
            data = payload.replace(b"\n", b",raw\n")
            copy.write(data)
        conn.commit()
        raw_s = time.perf_counter() - t0
    truncate()
    t0 = time.perf_counter()
    bars = SyntheticProvider().bars_for(symbols, start, end)
    t_fetch = time.perf_counter() - t0
    checked = validate_bars(bars, today=dt.date.today())
    t_valid = time.perf_counter() - t0 - t_fetch
    with sdb.session_scope() as session:
        counts = upsert_bars(session, checked.good, source="synthetic", run_id=uuid.uuid4())
    ingest_s = time.perf_counter() - t0
    assert counts.inserted == len(frame), counts
    rows = len(frame)
    print(f"   raw COPY of the same rows: {rows / raw_s:>10,.0f} rows/s ({raw_s:.2f} s)")
    print(
        f"   synthetic ingest:          {rows / ingest_s:>10,.0f} rows/s ({ingest_s:.2f} s: generate {t_fetch:.2f}, "
        f"validate {t_valid:.2f}, store {ingest_s - t_fetch - t_valid:.2f})"
    )
    ratio = raw_s / ingest_s
    print(
        f"   ratio ingest/raw: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})"
    )


def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--symbols", type=int, default=5000)
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    nightly_requests(args.symbols)
    with scratch_database() as url:
        ingest_vs_copy(url, args.bars)


if __name__ == "__main__":
    main()

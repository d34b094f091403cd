"""Benchmark of the backup path (issue 5): throughput against plain pg_dump, and flat memory.

A scratch database is filled to each size in turn (default ~250 MB, then ~1 GB on disk). At
each size, in the same run and alternating (best of ``--repeat``):

- reference: ``pg_dump -Fc --no-owner --no-privileges > /dev/null`` (same binary, same flags);
- backup: ``sigmasight.runs.backup.run_backup`` in a fresh child process (snapshot, row counts,
  pg_dump streamed into an S3 multipart upload with sha256, manifest, backup row) against the
  embedded moto S3 server, which runs as its own process as it does for users.

The figures are the wall time of each, the ratio reference/backup (target >= 0.8) and the
child's peak RSS (``ru_maxrss``; target <= 300 MiB and the same at both sizes).

Usage: ``.venv/bin/python -m bench.backup [--sizes-mb 250,1000] [--repeat 2]``
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, pool, text

from bench.common import scratch_database
from sigmasight.backup.keys import manifest_key
from sigmasight.backup.pgtools import pg_dump_argv, pg_env, pg_tool
from sigmasight.objectstore import object_store, stop_embedded_s3
from sigmasight.runs import backup, ledger
from sigmasight.settings import get_settings

MiB = 1024 * 1024


def fill_to(url: URL, size_mb: int) -> int:
    """Grow ``bench_fill`` until the database is at least ``size_mb`` MB; returns its bytes."""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_fill (id bigint PRIMARY KEY, ts timestamptz, "
                "symbol text, price numeric(18, 4), qty integer, note text)"
            )
        )
    batch = 500_000
    while True:
        with engine.begin() as conn:
            size = int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
            if size >= size_mb * 1_000_000:
                engine.dispose()
                return size
            start = int(
                conn.execute(text("SELECT coalesce(max(id), 0) FROM bench_fill")).scalar_one()
            )
            # Market-like rows: repeating symbols, smooth prices, and one random hash each.
            conn.execute(
                text(
                    "INSERT INTO bench_fill SELECT g, timestamptz '2020-01-01' + g * interval '1 second', "
                    "'SYM' || (g % 5000), round((100 + 50 * sin(g / 1000.0) + random())::numeric, 4), "
                    "(random() * 1000)::int, md5(g::text) FROM generate_series(:a, :b) g"
                ),
                {"a": start + 1, "b": start + batch},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE bench_fill"))


def reference_seconds(url: URL, server_version: str) -> float:
    """Wall time of ``pg_dump -Fc --no-owner --no-privileges`` into /dev/null."""
    pg_dump, _ = pg_tool("pg_dump", server_version)
    with open(os.devnull, "wb") as sink:
        start = time.perf_counter()
        subprocess.run(pg_dump_argv(pg_dump, url), stdout=sink, env=pg_env(url), check=True)
        return time.perf_counter() - start


def backup_in_child(state_dir: Path) -> dict[str, Any]:
    """Run one backup in a fresh interpreter; returns its figures and peak RSS."""
    env = {**os.environ, "SIGMASIGHT_STATE_DIR": str(state_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "bench.backup", "--child"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"backup child failed: {result.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def child() -> None:
    """One backup; prints JSON with the timing and this process's peak RSS."""
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_id = ledger.open_run("bench-backup", as_of=None, inputs={})
    store = object_store()
    outcome = backup.run_backup(get_settings(), run_id, store=store)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Leave no data in moto between runs (it holds objects in its process).
    store.client.delete_object(Bucket=store.bucket, Key=outcome.key)
    store.client.delete_object(Bucket=store.bucket, Key=manifest_key(outcome.key))
    print(
        json.dumps(
            {
                "seconds": outcome.seconds,
                "size_bytes": outcome.size_bytes,
                "parts": outcome.parts,
                "rows": outcome.rows,
                "baseline_rss_mib": baseline_kib / 1024,
                "peak_rss_mib": peak_kib / 1024,
            }
        )
    )


def main() -> None:
    """Fill, then measure reference and backup at each size."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes-mb", default="250,1000", help="database sizes on disk, MB")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, best kept")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    sizes = sorted(int(s) for s in args.sizes_mb.split(","))
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-s3-") as s3_state:
        s3_dir = Path(s3_state)
        s3_settings = get_settings().model_copy(update={"state_dir": s3_dir, "aws_s3_bucket": None})
        try:
            object_store(s3_settings)  # start the embedded moto server once
            with scratch_database() as url:
                from sigmasight.db import ping

                version = ping().split()[0]
                print(
                    f"backup vs pg_dump -Fc > /dev/null; PostgreSQL {version}; S3 = embedded moto"
                )
                rows: list[dict[str, Any]] = []
                for size_mb in sizes:
                    t0 = time.perf_counter()
                    db_bytes = fill_to(url, size_mb)
                    print(
                        f"\ndatabase filled to {db_bytes / 1e6:,.0f} MB ({time.perf_counter() - t0:.0f} s)"
                    )
                    refs, runs = [], []
                    for attempt in range(args.repeat):
                        refs.append(reference_seconds(url, version))
                        runs.append(backup_in_child(s3_dir))
                        print(
                            f"   run {attempt + 1}: pg_dump > /dev/null {refs[-1]:6.2f} s; "
                            f"backup {runs[-1]['seconds']:6.2f} s, peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB"
                        )
                    best = min(runs, key=lambda r: float(r["seconds"]))
                    ref = min(refs)
                    ratio = ref / float(best["seconds"])
                    peak = max(float(r["peak_rss_mib"]) for r in runs)
                    rows.append(
                        {"db_mb": db_bytes / 1e6, "ratio": ratio, **best, "ref": ref, "peak": peak}
                    )
                    print(
                        f"   best: pg_dump {ref:.2f} s ({db_bytes / MiB / ref:,.0f} MiB/s of database); "
                        f"backup {best['seconds']:.2f} s ({db_bytes / MiB / best['seconds']:,.0f} MiB/s), "
                        f"dump {best['size_bytes'] / MiB:,.0f} MiB in {best['parts']} parts"
                    )
                    print(
                        f"   ratio backup/pg_dump speed: {ratio:.2f} (target >= 0.80: "
                        f"{'met' if ratio >= 0.8 else 'NOT met'}); peak RSS {peak:.0f} MiB (max of runs; "
                        f"interpreter + imports {best['baseline_rss_mib']:.0f} MiB)"
                    )
                highest = max(r["peak"] for r in rows)
                print("\nsummary")
                for row in rows:
                    print(
                        f"   {row['db_mb']:>7,.0f} MB database: ratio {row['ratio']:.2f}, "
                        f"peak RSS {row['peak']:.0f} MiB"
                    )
                growth = rows[-1]["peak"] - rows[0]["peak"]
                print(
                    f"   peak RSS growth from smallest to largest: {growth:+.0f} MiB; highest "
                    f"{highest:.0f} MiB (target: flat, <= 300 MiB: {'met' if highest <= 300 else 'NOT met'})"
                )
        finally:
            stop_embedded_s3(s3_settings)


if __name__ == "__main__":
    main()

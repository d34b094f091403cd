"""Benchmark of the reports (issue 7): render rate for 1,000 portfolios, per format.

Target: reports for 1,000 portfolios render at >= 20 portfolios/s for all four formats
(JSON, Markdown, CSV, HTML) on this machine, reported with the per-format breakdown.

Setup (not timed), in a migrated scratch database dropped afterwards: the synthetic universe
and books of ``bench.nightly_risk`` (factor ETFs, synthetic stocks, ~1 % of the books with
options), then the risk run's plain steps, so that stored results exist.

Timed, in one process, without a network (template narratives):

1. **render**: the pure part the target is about. Inputs are collected first (untimed
   here), then for every portfolio the shared view and each format are timed separately.
2. **collect**: reading the stored documents, extras and price panel, per chunk.
3. **end to end (plain)**: ``reports_run.write_chunk`` for every chunk, sequentially: collect,
   render, atomic writes of the four files and the index upsert.
4. **end to end (Prefect)**: the ``reports`` flow itself, after a trivial flow has started
   the ephemeral API (skip with ``--no-prefect``).

Usage: ``.venv/bin/python -m bench.reports [--portfolios 1000] [--positions 50]
[--symbols 600] [--days 400] [--no-prefect]``
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import scratch_database
from bench.nightly_risk import plain_steps, setup
from sigmasight.reports.model import build_view
from sigmasight.reports.narrative import NarrativeWriter
from sigmasight.reports.render import RENDERERS
from sigmasight.runs import ledger
from sigmasight.runs import reports as reports_run
from sigmasight.settings import get_settings

TARGET_RATE = 20.0


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=1_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect flow run")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="sigmasight-bench-reports-"))
    os.environ["SIGMASIGHT_REPORTS_DIR"] = str(out)
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.pop("AWS_S3_BUCKET", None)
    with scratch_database():
        t0 = time.perf_counter()
        universe = setup(args.symbols, args.days, args.portfolios, args.positions)
        plain_steps(universe.as_of, workers=1)
        print(
            f"setup: {args.portfolios:,} portfolios, {universe.n_positions:,} positions "
            f"({universe.n_options} options), {args.symbols:,} symbols x {args.days} sessions, "
            f"risk computed in {time.perf_counter() - t0:.1f} s (not timed)"
        )
        as_of = universe.as_of
        settings = get_settings()
        chunks = reports_run.plan_reports(as_of, None, settings.reports_chunk_size)
        n = sum(len(c) for c in chunks)

        # 1 + 2: collect per chunk, then render each portfolio with per-format timings.
        collect_s = 0.0
        per_stage = {"view": 0.0, **dict.fromkeys(RENDERERS, 0.0)}
        sizes = dict.fromkeys(RENDERERS, 0)
        with NarrativeWriter(api_key=None) as writer:
            for chunk in chunks:
                start = time.perf_counter()
                collected = reports_run.collect_inputs(get_settings(), as_of, chunk, writer)
                collect_s += time.perf_counter() - start
                for _, data in collected.inputs:
                    stamp = time.perf_counter()
                    view = build_view(data)
                    now = time.perf_counter()
                    per_stage["view"] += now - stamp
                    for kind, renderer in RENDERERS.items():
                        payload = renderer(view)
                        stamp, now = now, time.perf_counter()
                        per_stage[kind] += now - stamp
                        sizes[kind] += len(payload)
        render_s = sum(per_stage.values())
        rate = n / render_s
        print(
            f"\nrender ({n:,} portfolios, all four formats): {render_s:.2f} s = {rate:.1f} portfolios/s"
        )
        print(f"  {'stage':<8} {'total s':>8} {'ms/portfolio':>13} {'share':>6} {'avg size':>10}")
        for stage, seconds in per_stage.items():
            size = f"{sizes[stage] / n / 1024:.1f} KiB" if stage in sizes else ""
            print(
                f"  {stage:<8} {seconds:>8.2f} {1000 * seconds / n:>13.2f} "
                f"{seconds / render_s:>6.0%} {size:>10}"
            )
        print(
            f"collect (stored documents, extras, price panel): {collect_s:.2f} s "
            f"= {n / collect_s:.0f} portfolios/s"
        )

        # 3: end to end without Prefect.
        run_id = ledger.open_run("reports", as_of=as_of, inputs={"bench": "plain"})
        start = time.perf_counter()
        outcomes = [
            reports_run.write_chunk(get_settings(), as_of, chunk, run_id) for chunk in chunks
        ]
        plain_s = time.perf_counter() - start
        ledger.close_run(run_id, "succeeded")
        ok = sum(r.status == "ok" for o in outcomes for r in o.reports)
        timings: dict[str, float] = {}
        for outcome in outcomes:
            for stage, seconds in outcome.timings.items():
                timings[stage] = round(timings.get(stage, 0.0) + seconds, 2)
        print(
            f"\nend to end, plain ({ok:,} ok, {len(chunks)} chunks of "
            f"{settings.reports_chunk_size}): {plain_s:.2f} s = {n / plain_s:.1f} portfolios/s"
        )
        print(f"  stages: {timings}")

        # 4: the Prefect flow.
        if not args.no_prefect:
            from prefect import flow

            from flows.reports import generate_reports

            @flow
            def warm_up() -> None:
                """Start the ephemeral API outside the timed run."""

            warm_up()
            start = time.perf_counter()
            result = generate_reports(as_of=as_of)
            flow_s = time.perf_counter() - start
            assert isinstance(result, dict)
            print(
                f"end to end, Prefect flow: {flow_s:.2f} s = {n / flow_s:.1f} portfolios/s "
                f"({result['ok']:,} ok, {result['index_rows_changed']} index rows changed on rerun)"
            )
        print(
            f"\ntarget: render >= {TARGET_RATE:.0f} portfolios/s for all four formats: "
            f"{rate:.1f} -> {verdict(rate >= TARGET_RATE)}"
        )
        print(f"files under {out} (delete when done)")


if __name__ == "__main__":
    main()

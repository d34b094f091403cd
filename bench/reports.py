"""Benchmark of the reports in bulk (issue 15): 10,000 portfolios, all four formats, end to end.

Target: reports for 10,000 portfolios x 50 positions (JSON, Markdown, CSV, HTML) written,
indexed and published by the ``reports`` flow in <= 60 s end to end on this 2-core machine.

Setup (not timed), in a migrated scratch database dropped afterwards: the synthetic universe
and books of ``bench.nightly_risk`` (factor ETFs, synthetic stocks, ~1 % of the books with
options), then the risk run's plain steps, so that stored results exist.

Measured, in one run:

1. **reference, render only, one process**: a sample of chunks is collected (untimed), then
   each portfolio's view and four formats are rendered in this process, per format. Twice
   that rate is what two cores could render if reading and writing cost nothing.
2. **end to end, first run** (the ``reports`` flow under Prefect, after a trivial flow has
   started the ephemeral API; ``--no-prefect`` calls ``reports_run.write_all`` instead): the
   shared panel read once, chunks read, rendered and written on the worker processes,
   files indexed, artifacts published. Every file is new: all written.
3. **end to end, second run**: the same date again; every file's bytes are already on disk,
   so none is rewritten (files written vs unchanged are printed).

The load average (``/proc/loadavg``) is printed before and after: the machine is shared.

Usage: ``.venv/bin/python -m bench.reports [--portfolios 10000] [--positions 50]
[--symbols 3000] [--days 400] [--sample 300] [--workers N] [--no-prefect]``
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import scratch_database
from bench.nightly_risk import plain_steps, setup
from sigmasight.reports.model import build_view
from sigmasight.reports.narrative import NarrativeWriter
from sigmasight.reports.render import RENDERERS
from sigmasight.runs import ledger
from sigmasight.runs import reports as reports_run
from sigmasight.settings import get_settings

TARGET_S = 60.0
TARGET_PORTFOLIOS = 10_000


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render_reference(as_of: Any, chunks: list[list[str]], sample: int) -> tuple[int, float]:
    """Render a sample in this process, per format; returns (portfolios, seconds)."""
    settings = get_settings()
    market = reports_run.load_run_market(settings, as_of)
    per_stage = {"view": 0.0, **dict.fromkeys(RENDERERS, 0.0)}
    sizes = dict.fromkeys(RENDERERS, 0)
    n = 0
    with NarrativeWriter(api_key=None) as writer:
        for chunk in chunks:
            if n >= sample:
                break
            collected = reports_run.collect_inputs(settings, as_of, chunk, writer, market)
            for _, data in collected.inputs[: sample - n]:
                stamp = time.perf_counter()
                view = build_view(data)
                now = time.perf_counter()
                per_stage["view"] += now - stamp
                for kind, renderer in RENDERERS.items():
                    payload = renderer(view)
                    stamp, now = now, time.perf_counter()
                    per_stage[kind] += now - stamp
                    sizes[kind] += len(payload)
                n += 1
    seconds = sum(per_stage.values())
    print(
        f"\nreference, render only in one process ({n:,} portfolios, all four formats): "
        f"{seconds:.2f} s = {n / seconds:.1f} portfolios/s"
    )
    print(f"  {'stage':<8} {'total s':>8} {'ms/portfolio':>13} {'share':>6} {'avg size':>10}")
    for stage, spent in per_stage.items():
        size = f"{sizes[stage] / n / 1024:.1f} KiB" if stage in sizes else ""
        print(
            f"  {stage:<8} {spent:>8.2f} {1000 * spent / n:>13.2f} "
            f"{spent / seconds:>6.0%} {size:>10}"
        )
    return n, seconds


def end_to_end(as_of: Any, chunks: list[list[str]], prefect: bool) -> tuple[float, dict[str, Any]]:
    """One full run; returns (seconds, counts and summed stage timings)."""
    if prefect:
        from flows.reports import generate_reports

        start = time.perf_counter()
        result = generate_reports(as_of=as_of)
        seconds = time.perf_counter() - start
        assert isinstance(result, dict), result
        return seconds, result
    settings = get_settings()
    run_id = ledger.open_run("reports", as_of=as_of, inputs={"bench": "plain"})
    start = time.perf_counter()
    outcomes = reports_run.write_all(settings, as_of, chunks, run_id)
    seconds = time.perf_counter() - start
    ledger.close_run(run_id, "succeeded")
    timings: dict[str, float] = {}
    files: dict[str, int] = {}
    for outcome in outcomes:
        for stage, spent in outcome.timings.items():
            timings[stage] = round(timings.get(stage, 0.0) + spent, 2)
        for key, count in outcome.files.items():
            files[key] = files.get(key, 0) + count
    return seconds, {
        "ok": sum(r.status == "ok" for o in outcomes for r in o.reports),
        "files_written": files.get("written", 0),
        "files_unchanged": files.get("unchanged", 0),
        "index_rows_changed": sum(o.indexed for o in outcomes),
        "timings": timings,
    }


def print_run(label: str, n: int, seconds: float, result: dict[str, Any]) -> None:
    print(
        f"\nend to end, {label}: {seconds:.2f} s = {n / seconds:.1f} portfolios/s "
        f"({result['ok']:,} ok; files written {result['files_written']:,}, unchanged "
        f"{result['files_unchanged']:,}; {result['index_rows_changed']:,} index rows changed)"
    )
    print(f"  stages, summed over the workers: {result['timings']}")
    cpu = float(result["timings"].get("cpu_s", 0.0))
    if cpu:
        print(
            f"  CPU in the workers: {cpu:.1f} s = {1000 * cpu / n:.1f} ms a portfolio "
            f"(two otherwise idle cores: >= {cpu / 2:.1f} s; PostgreSQL's CPU not included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=TARGET_PORTFOLIOS)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--sample", type=int, default=300, help="portfolios in the reference")
    parser.add_argument("--workers", type=int, help="SIGMASIGHT_REPORTS_WORKERS for the runs")
    parser.add_argument("--no-prefect", action="store_true", help="write_all without the flow")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="sigmasight-bench-reports-"))
    os.environ["SIGMASIGHT_REPORTS_DIR"] = str(out)
    if args.workers is not None:
        os.environ["SIGMASIGHT_REPORTS_WORKERS"] = str(args.workers)
    for name in ("OPENAI_API_KEY", "AWS_S3_BUCKET"):
        os.environ.pop(name, None)
    try:
        with scratch_database():
            t0 = time.perf_counter()
            universe = setup(args.symbols, args.days, args.portfolios, args.positions)
            plain_steps(universe.as_of, workers=1)
            print(
                f"setup: {args.portfolios:,} portfolios, {universe.n_positions:,} positions "
                f"({universe.n_options} options), {args.symbols:,} symbols x {args.days} "
                f"sessions, risk computed in {time.perf_counter() - t0:.1f} s (not timed)"
            )
            as_of = universe.as_of
            settings = get_settings()
            chunks = reports_run.plan_reports(as_of, None, settings.reports_chunk_size)
            n = sum(len(c) for c in chunks)
            print(
                f"{n:,} portfolios in {len(chunks)} chunks of {settings.reports_chunk_size}, "
                f"{settings.reports_workers} worker processes; load average {load_average()}"
            )
            sample, reference_s = render_reference(as_of, chunks, args.sample)
            prefect = not args.no_prefect
            if prefect:
                from prefect import flow

                @flow
                def warm_up() -> None:
                    """Start the ephemeral API outside the timed run."""

                warm_up()
            label = "Prefect flow" if prefect else "plain write_all"
            first_s, first = end_to_end(as_of, chunks, prefect)
            print_run(f"{label}, first run (all new)", n, first_s, first)
            second_s, second = end_to_end(as_of, chunks, prefect)
            print_run(f"{label}, second run (same date again)", n, second_s, second)
            print(f"\nload average after: {load_average()}")
            render_rate = sample / reference_s
            budget = TARGET_S * n / TARGET_PORTFOLIOS
            print(
                f"\nreference: render only, one process {render_rate:.1f} portfolios/s "
                f"(x2 cores = {2 * render_rate:.1f}/s, {n / (2 * render_rate):.1f} s for "
                f"{n:,}); end to end {n / first_s:.1f}/s = "
                f"{first_s / (n / (2 * render_rate)):.2f}x the two-core render-only time"
            )
            print(
                f"target: {TARGET_PORTFOLIOS:,} portfolios, all four formats, end to end "
                f"<= {TARGET_S:.0f} s (here {n:,}: <= {budget:.1f} s): first run "
                f"{first_s:.1f} s -> {verdict(first_s <= budget)}"
            )
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

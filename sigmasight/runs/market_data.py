"""The market-data run's steps, each opening its own session and provider.

Prefect tasks in ``tasks/market_data.py`` call these one to one; the CLI and benchmarks can
call them without Prefect. Arguments and results are small, serialisable values.

Vendor failures are retried in one place only: the HTTP client (``providers/http.py``), which
honours ``Retry-After``, backs off with jitter and gives up after a bounded number of attempts.
The tasks do not retry on top of it, so a daily quota or a dead vendor fails the run promptly.
"""

import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace

import pandas as pd

from sigmasight.db import session_scope
from sigmasight.domain import ActionSpec
from sigmasight.market_data import (
    ActionJob,
    FetchJob,
    Move,
    QualityReport,
    Restatement,
    Sessions,
    assess_quality,
    backfill_start,
    by_symbol,
    describe_action,
    late_actions,
    plan_action_fetches,
    plan_fetches,
    restatement_note,
    unexplained_moves,
    validate_actions,
    validate_bars,
)
from sigmasight.providers import registry
from sigmasight.providers.base import ProviderError
from sigmasight.repositories import actions as action_repo
from sigmasight.repositories import market as market_repo
from sigmasight.repositories import prices as price_repo
from sigmasight.settings import Settings
from sigmasight.trading_calendar import is_session
from sigmasight.trading_calendar import sessions as nyse_sessions

log = logging.getLogger(__name__)

RATE_SERIES = ("DGS10",)
PROFILE_MAX_AGE = dt.timedelta(days=7)


@dataclass(frozen=True)
class MarketDataPlan:
    """What one run will fetch, and from whom."""

    as_of: dt.date
    price_provider: str
    profile_provider: str
    rate_provider: str
    universe: dict[str, tuple[str, ...]]
    jobs: tuple[FetchJob, ...]
    #: Whose corporate actions to ask for, over which ex-dates (one request set per symbol,
    #: or one market-wide listing for the nightly increments).
    action_jobs: tuple[ActionJob, ...] = ()
    #: Each symbol's last stored bar before the run: an action on or before it is late (C21).
    last_stored: dict[str, dt.date] = field(default_factory=dict)

    def chunks(self, size: int) -> list[list[FetchJob]]:
        """Jobs split into task-sized chunks (grouped jobs each go alone)."""
        grouped = [[job] for job in self.jobs if job.kind == "grouped"]
        ranges = [job for job in self.jobs if job.kind == "range"]
        return grouped + [ranges[i : i + size] for i in range(0, len(ranges), size)]


@dataclass(frozen=True)
class ChunkOutcome:
    """What one chunk of jobs fetched and stored."""

    requests: int
    rows_fetched: int
    rows_rejected: int
    inserted: int
    updated: int
    issues: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    #: Close-to-close moves above 50 %; the data-quality step flags those no action explains.
    moves: tuple[Move, ...] = ()


@dataclass(frozen=True)
class ActionOutcome:
    """What the corporate-actions step fetched, stored and rejected."""

    requests: int
    fetched: int
    rejected: int
    inserted: int
    updated: int
    issues: dict[str, list[str]] = field(default_factory=dict)
    #: Actions new to the database, and the late ones among them (ex-date on or before the
    #: symbol's last bar stored before the run).
    new: tuple[ActionSpec, ...] = ()
    late: tuple[ActionSpec, ...] = ()


def _session_calendar(as_of: dt.date, years: int) -> Sessions:
    start = backfill_start(as_of, years + 1)
    return Sessions(tuple(nyse_sessions(start, as_of)))


def plan_market_data(
    settings: Settings,
    as_of: dt.date,
    *,
    provider: str | None,
    backfill_years: int,
    extend_history: bool,
) -> MarketDataPlan:
    """Build the universe once and work out per symbol what is missing."""
    price_name = registry.resolve_price_provider(settings, provider)
    with session_scope() as session:
        universe = market_repo.load_universe(session, default_benchmark=settings.benchmark)
        symbols = sorted(universe)
        stored = price_repo.stored_ranges(session, symbols, until=as_of)
    # The calendar must cover every stored history, or holes before its start go unseen.
    earliest = min([backfill_start(as_of, backfill_years)] + [r.first for r in stored.values()])
    grouped = price_name in ("polygon", "synthetic")
    # Only Polygon serves option contracts; elsewhere they are valued by model alone.
    skip = (
        frozenset()
        if price_name == "polygon"
        else frozenset(s for s, r in universe.items() if r == {"option"})
    )
    jobs = plan_fetches(
        symbols,
        stored,
        as_of=as_of,
        sessions=Sessions(tuple(nyse_sessions(earliest, as_of))),
        backfill_years=backfill_years,
        extend_history=extend_history,
        grouped=grouped,
        skip=skip,
    )
    # Polygon and the synthetic market can list every symbol's actions in a few requests.
    action_jobs = plan_action_fetches(jobs, stored, as_of=as_of, market_wide=grouped)
    return MarketDataPlan(
        as_of=as_of,
        price_provider=price_name,
        profile_provider=registry.profile_provider_name(settings, price_name),
        rate_provider=registry.rate_provider_name(settings, price_name),
        universe={s: tuple(sorted(r)) for s, r in universe.items()},
        jobs=tuple(jobs),
        action_jobs=tuple(action_jobs),
        last_stored={symbol: r.last for symbol, r in stored.items()},
    )


def fetch_and_store(
    settings: Settings,
    jobs: Sequence[FetchJob],
    *,
    provider: str,
    run_id: uuid.UUID,
    universe: Sequence[str],
) -> ChunkOutcome:
    """Fetch each job once, validate every bar, upsert the good ones in one transaction.

    A vendor error for one symbol (no entitlement, unknown ticker) is recorded as an issue
    for that symbol; an authentication error or an exhausted rate limit stops the chunk.
    """
    started = time.perf_counter()
    frames: list[pd.DataFrame] = []
    issues: dict[str, list[str]] = {}
    requests = 0
    with closing(registry.open_price_provider(settings, provider, universe=universe)) as source:
        for job in jobs:
            requests += 1
            try:
                if job.kind == "grouped":
                    bars = source.grouped_daily(job.start)  # type: ignore[attr-defined]
                    bars = bars[bars["symbol"].isin(job.symbols)]
                else:
                    bars = source.daily_bars(job.symbols[0], job.start, job.end)
            except ProviderError as exc:
                if not _symbol_level(exc):
                    raise
                for symbol in job.symbols:
                    issues.setdefault(symbol, []).append(f"{provider}: {exc}")
                continue
            frames.append(bars)
    fetched = pd.concat(frames, ignore_index=True) if frames else None
    if fetched is None or fetched.empty:
        return ChunkOutcome(requests, 0, 0, 0, 0, issues, time.perf_counter() - started)
    firsts = fetched.groupby("symbol")["date"].min()
    with session_scope() as session:
        # The move into the first fetched bar counts too: a nightly run fetches one bar.
        before = action_repo.closes_before(session, [(str(s), d) for s, d in firsts.items()])
    checked = validate_bars(
        fetched,
        today=dt.date.today(),
        previous={symbol: found for (symbol, _), found in before.items()},
    )
    for symbol, notes in checked.rejected.items():
        issues.setdefault(symbol, []).extend(notes)
    with session_scope() as session:
        counts = price_repo.upsert_bars(session, checked.good, source=provider, run_id=run_id)
    return ChunkOutcome(
        requests,
        len(fetched),
        checked.n_rejected,
        counts.inserted,
        counts.updated,
        issues,
        time.perf_counter() - started,
        tuple(checked.moves),
    )


def fetch_and_store_actions(
    settings: Settings,
    jobs: Sequence[ActionJob],
    *,
    provider: str,
    run_id: uuid.UUID,
    universe: Sequence[str],
    last_stored: dict[str, dt.date],
) -> ActionOutcome:
    """Fetch each job's splits and dividends, validate them, upsert the good ones.

    Runs after the prices, so a dividend is checked against the stored close before its
    ex-date. Rejected actions (non-positive value, ex-date not a session, a dividend not
    below the previous close, two values for one action, another value than the stored one)
    become data-quality issues of their symbol and are never stored. A vendor error for one
    symbol is an issue of that symbol; an authentication error or an exhausted rate limit
    stops the step.
    """
    found: list[ActionSpec] = []
    issues: dict[str, list[str]] = {}
    requests = 0
    with closing(registry.open_price_provider(settings, provider, universe=universe)) as source:
        for job in jobs:
            requests += 1
            wanted = set(job.symbols)
            try:
                if job.kind == "market":
                    listed = source.market_actions(job.start, job.end)  # type: ignore[attr-defined]
                else:
                    listed = source.corporate_actions(job.symbols[0], job.start, job.end)
            except ProviderError as exc:
                if not _symbol_level(exc):
                    raise
                for symbol in job.symbols:
                    issues.setdefault(symbol, []).append(f"{provider} actions: {exc}")
                continue
            found.extend(a for a in listed if a.symbol in wanted)
    if not found:
        return ActionOutcome(requests, 0, 0, 0, 0, issues)
    with session_scope() as session:
        stored = action_repo.stored_actions(session, [(a.symbol, a.ex_date, a.kind) for a in found])
        previous = action_repo.closes_before(
            session, [(a.symbol, a.ex_date) for a in found if a.kind == "cash_dividend"]
        )
        checked = validate_actions(
            found, stored=stored, previous_closes=previous, is_session=is_session
        )
        counts = action_repo.upsert_actions(session, checked.good, source=provider, run_id=run_id)
    for symbol, notes in checked.rejected.items():
        issues.setdefault(symbol, []).extend(notes)
    late = late_actions(checked.new, last_stored)
    return ActionOutcome(
        requests,
        len(found),
        checked.n_rejected,
        counts.inserted,
        counts.updated,
        issues,
        tuple(checked.new),
        tuple(late),
    )


def _symbol_level(exc: ProviderError) -> bool:
    from sigmasight.providers.base import ProviderBadResponse, ProviderEntitlementError

    return isinstance(exc, ProviderEntitlementError | ProviderBadResponse)


def refresh_rates(
    settings: Settings,
    as_of: dt.date,
    *,
    provider: str,
    run_id: uuid.UUID,
    backfill_years: int,
) -> dict[str, int]:
    """Bring each rate series up to ``as_of`` (re-reading the last week for late revisions)."""
    stored: dict[str, int] = {}
    with closing(registry.open_rate_provider(settings, provider)) as source:
        for series in RATE_SERIES:
            with session_scope() as session:
                last = price_repo.last_rate_date(session, series)
            start = (
                backfill_start(as_of, backfill_years)
                if last is None
                else last - dt.timedelta(days=7)
            )
            observations = source.observations(series, start, as_of)
            with session_scope() as session:
                counts = price_repo.upsert_rates(
                    session, series, observations, source=provider, run_id=run_id
                )
            stored[series] = counts.inserted + counts.updated
    return stored


def refresh_profiles(settings: Settings, symbols: Sequence[str], *, provider: str) -> int:
    """Refresh security profiles older than a week (or missing)."""
    with session_scope() as session:
        stale = market_repo.symbols_needing_profiles(
            session, symbols, older_than=dt.datetime.now(dt.UTC) - PROFILE_MAX_AGE
        )
    if not stale:
        return 0
    profiles = []
    with closing(registry.open_profile_provider(settings, provider)) as source:
        for symbol in stale:
            try:
                found = source.profile(symbol)
            except ProviderError as exc:
                if not _symbol_level(exc):
                    raise
                log.warning("profile of %s unavailable: %s", symbol, exc)
                continue
            if found is not None:
                profiles.append(found)
    with session_scope() as session:
        return market_repo.upsert_profiles(session, profiles, source=provider)


def record_quality(
    as_of: dt.date,
    *,
    run_id: uuid.UUID,
    universe: dict[str, tuple[str, ...]],
    issues: dict[str, list[str]],
    moves: Sequence[Move] = (),
    new_actions: Sequence[ActionSpec] = (),
    late: Sequence[ActionSpec] = (),
) -> QualityReport:
    """Measure coverage and staleness for ``as_of`` and store one row per symbol.

    Besides the fetch issues: the large moves of this run that no stored split or dividend
    explains, the new actions that no move matches (a split on a day the price stood
    still), and for every late action the stored risk dates it changes (C21).
    """
    notes: dict[str, list[str]] = {s: list(v) for s, v in issues.items()}
    restated = []
    with session_scope() as session:
        checked = [*moves, *action_repo.moves_across(session, new_actions)]
        if checked:
            known = action_repo.list_actions(
                session,
                sorted({m.symbol for m in checked}),
                start=min(m.previous_date for m in checked),
                end=max(m.date for m in checked),
            )
            for symbol, flagged in unexplained_moves(checked, known).items():
                notes.setdefault(symbol, []).extend(flagged)
        for symbol, actions in by_symbol(late).items():
            dates, portfolios = action_repo.affected_risk_dates(session, symbol, actions[0].ex_date)
            notes.setdefault(symbol, []).append(restatement_note(actions, dates, len(portfolios)))
            restated.append(
                Restatement(
                    symbol,
                    tuple(describe_action(a) for a in actions),
                    tuple(dates),
                    tuple(portfolios),
                )
            )
        last = market_repo.last_dates(session, sorted(universe), until=as_of)
        report = assess_quality(
            universe, last, notes, as_of=as_of, sessions=_session_calendar(as_of, 1)
        )
        report = replace(report, restated=tuple(restated))
        market_repo.save_data_quality(session, report.rows, as_of=as_of, run_id=run_id)
    return report

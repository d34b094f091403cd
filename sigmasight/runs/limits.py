"""Limits run steps (RISK-CONVENTIONS C31): ``sigmasight limits`` and the nightly breach alert.

Setting, removing and listing limits check their input completely before writing (bad
input: :class:`InputError` naming the key or flag, nothing written). The alert posts the
``new`` breaches of the nightly run's date once: each posted breach is recorded, so a rerun
of the date does not post it again, and a breach that continues is never ``new``.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Portfolio
from sigmasight.db import session_scope
from sigmasight.domain import InputError
from sigmasight.notify import notify_breaches
from sigmasight.repositories import limits as limits_repo
from sigmasight.repositories import results as results_repo
from sigmasight.repositories.limits import StoredLimit
from sigmasight.risk.limits import LIMIT_KEYS, RANGE_KEYS, Bound, bound_problem, make_bound
from sigmasight.settings import Settings

log = logging.getLogger(__name__)


def _known_key(key: str) -> None:
    if key not in LIMIT_KEYS:
        raise InputError(f"unknown limit {key!r} (limits: {', '.join(LIMIT_KEYS)})")


def parse_bound(key: str, raw: Sequence[str]) -> Bound:
    """The bound of ``key`` from command-line words: ``VALUE``, or ``MIN MAX`` for a range."""
    _known_key(key)
    if key in RANGE_KEYS and len(raw) != 2:
        raise InputError(f"{key} is a range: give its MIN and MAX (e.g. {key} 0.5 1.5)")
    if key not in RANGE_KEYS and len(raw) != 1:
        raise InputError(
            f"{key} takes one bound: a second number (MAX) is only for "
            f"{', '.join(sorted(RANGE_KEYS))}"
        )
    values: list[float] = []
    for word in raw:
        try:
            number = float(word)
        except ValueError:
            raise InputError(f"{key}: {word[:40]!r} is not a number") from None
        values.append(number)
    problem = bound_problem(key, values)
    if problem is not None:
        raise InputError(f"{key}: {problem}")
    return make_bound(key, values)


def _portfolio_id(session: Session, external_id: str) -> int:
    found = session.scalar(select(Portfolio.id).where(Portfolio.external_id == external_id))
    if found is None:
        raise InputError(f"--portfolio {external_id[:64]}: no such portfolio")
    return int(found)


def set_limit(external_id: str | None, key: str, raw: Sequence[str]) -> bool:
    """Set one limit of a portfolio (or a default, ``external_id`` None); True when it changed."""
    bound = parse_bound(key, raw)
    with session_scope() as session:
        owner = None if external_id is None else _portfolio_id(session, external_id)
        return limits_repo.set_limit(session, owner, key, bound, source="cli")


def unset_limit(external_id: str | None, key: str) -> bool:
    """Remove one limit of a portfolio (or a default); True when there was one."""
    _known_key(key)
    with session_scope() as session:
        owner = None if external_id is None else _portfolio_id(session, external_id)
        return limits_repo.unset_limit(session, owner, key)


def list_limits(external_id: str | None) -> list[StoredLimit]:
    """Every stored limit, or those in effect for one portfolio (its own, then defaults)."""
    with session_scope() as session:
        if external_id is not None:
            _portfolio_id(session, external_id)
        return limits_repo.list_limits(session, external_id)


@dataclass(frozen=True)
class AlertReport:
    """What the alert step did: new breaches found, and whether they were posted."""

    new_breaches: int
    posted: bool
    reason: str


def alert_new_breaches(settings: Settings, as_of: dt.date, run_id: uuid.UUID | None) -> AlertReport:
    """Post the ``new`` breaches of ``as_of`` not posted before, in one message.

    Only when ``as_of`` is the newest computed session: rerunning an older date does not
    alert about the past. Without ``SLACK_WEBHOOK_URL`` nothing is posted (and nothing
    recorded, so setting the webhook and rerunning the date posts them).
    """
    with session_scope() as session:
        newest = results_repo.latest_snapshot_date(session)
        if newest != as_of:
            return AlertReport(0, False, f"{as_of} is not the newest computed session ({newest})")
        breaches = limits_repo.unalerted_new_breaches(session, as_of)
    if not breaches:
        return AlertReport(0, False, "no new breach")
    webhook = settings.slack_webhook_url
    if webhook is None:
        return AlertReport(len(breaches), False, "SLACK_WEBHOOK_URL is not set")
    if not notify_breaches(webhook.get_secret_value(), as_of=as_of, breaches=breaches):
        return AlertReport(len(breaches), False, "the webhook did not accept the message")
    with session_scope() as session:
        limits_repo.record_alerts(session, as_of, breaches, run_id)
    return AlertReport(len(breaches), True, "posted")

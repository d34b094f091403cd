"""Limit tasks (RISK-CONVENTIONS C31): the nightly alert about new breaches."""

import datetime as dt
import uuid

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from sigmasight.runs import limits as limits_run
from sigmasight.settings import get_settings


@task(cache_policy=NO_CACHE)
def alert_limit_breaches(as_of: dt.date, run_id: uuid.UUID) -> int:
    """Post the date's new limit breaches to SLACK_WEBHOOK_URL, once; returns how many."""
    report = limits_run.alert_new_breaches(get_settings(), as_of, run_id)
    logger = get_run_logger()
    if report.posted:
        logger.info(
            "%d new limit breach(es) on %s posted to the webhook", report.new_breaches, as_of
        )
    elif report.new_breaches:
        logger.warning(
            "%d new limit breach(es) on %s not posted: %s",
            report.new_breaches,
            as_of,
            report.reason,
        )
    return report.new_breaches

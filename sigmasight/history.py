"""A portfolio's actual history: the series of stored snapshots (pure: rows in, CSV text out).

RISK-CONVENTIONS C17/C18: the actual history is what the nightly runs stored per computed
session (NAV, external flow, P&L net of flows, time-weighted return), next to the risk of the
book held on that date. :class:`HistoryPoint` is one session of it, read by
``repositories.results.load_history`` (``export history``) and ``api_reads.snapshot_history``
(the API's snapshots route), so both give the same figures.

Units (FORMATS section 7): currency figures (``nav``, ``cash``, ``pnl``, ``external_flow``)
in the portfolio's currency; ``twr_*``, VaR, CVaR and volatility as fractions (a loss is
positive); ``gross_leverage`` as a multiple of NAV. Every float is written with ``repr``, so a
reader parses back exactly the stored double.
"""

import csv
import datetime as dt
import io
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

#: The ``export history`` header (FORMATS section 7), in this order.
HISTORY_COLUMNS = (
    "as_of",
    "nav",
    "cash",
    "pnl",
    "external_flow",
    "twr_daily",
    "twr_cumulative",
    "hist_var_95",
    "param_var_95",
    "cvar_95",
    "ann_vol",
    "beta_spy_150d",
    "gross_leverage",
    "breaches",
    "run_id",
)


@dataclass(frozen=True)
class HistoryPoint:
    """One computed session of a portfolio, as stored.

    ``pnl``, ``twr_daily`` and ``twr_cumulative`` are ``None`` on the first computed session
    (no previous one) and when a NAV is unknown; ``hist_var_95``, ``cvar_95`` (full window),
    ``param_var_95`` and ``ann_vol`` are fractions of NAV; ``daily_pnl`` and ``daily_return``
    are the replay of the book held on the date over the previous session's prices (C6),
    not the actual P&L.
    """

    as_of: dt.date
    run_id: uuid.UUID
    status: str
    is_current: bool
    book_date: dt.date | None
    nav: float | None
    cash: float | None
    pnl: float | None
    external_flow: float | None
    twr_daily: float | None
    twr_cumulative: float | None
    hist_var_95: float | None
    hist_var_99: float | None
    param_var_95: float | None
    cvar_95: float | None
    ann_vol: float | None
    beta_spy_150d: float | None
    gross_leverage: float | None
    daily_pnl: float | None
    daily_return: float | None
    #: Limits in breach on the date (RISK-CONVENTIONS C31: new or continuing).
    breaches: int = 0


def _cell(value: float | None) -> str:
    # repr is the shortest text that parses back to the same double: no precision is lost.
    if value is None or not math.isfinite(value):
        return ""
    return repr(float(value))


def history_row(point: HistoryPoint) -> list[str]:
    """One CSV row of :data:`HISTORY_COLUMNS` (an empty cell is a figure that is unknown)."""
    return [
        point.as_of.isoformat(),
        _cell(point.nav),
        _cell(point.cash),
        _cell(point.pnl),
        _cell(point.external_flow),
        _cell(point.twr_daily),
        _cell(point.twr_cumulative),
        _cell(point.hist_var_95),
        _cell(point.param_var_95),
        _cell(point.cvar_95),
        _cell(point.ann_vol),
        _cell(point.beta_spy_150d),
        _cell(point.gross_leverage),
        str(point.breaches),
        str(point.run_id),
    ]


def history_csv(points: Iterable[HistoryPoint]) -> str:
    """The ``export history`` CSV: the header, then one row per point in the given order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    writer.writerows(history_row(p) for p in points)
    return buffer.getvalue()

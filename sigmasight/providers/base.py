"""What every provider returns, and how provider failures are classified.

Bars travel as a columnar :class:`pandas.DataFrame` (``BAR_COLUMNS``) rather than one object
per bar: a backfill moves millions of rows and per-row objects would dominate the cost.

Price basis: every price provider returns bars **as traded** (raw, neither split- nor
dividend-adjusted), together with the splits and cash dividends that explain the jumps
(:meth:`PriceProvider.corporate_actions`). The adjusted series is derived from the stored
actions (RISK-CONVENTIONS C19-C21), so an action that becomes known later corrects every
earlier date without downloading history again.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from sigmasight.domain import ActionSpec

#: Columns of a bar frame. ``date`` holds ``datetime.date`` values (America/New_York
#: trading dates); prices are floats; ``volume`` is a float (vendors send fractions);
#: ``adj_close`` may be NaN when the vendor gives none; ``vendor_status`` is e.g. "DELAYED"
#: or None.
BAR_COLUMNS = (
    "symbol",
    "date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "vendor_status",
)


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows."""
    return pd.DataFrame({name: pd.Series(dtype="object") for name in BAR_COLUMNS})


@dataclass(frozen=True)
class Profile:
    """Security-master facts from a vendor profile."""

    symbol: str
    name: str | None
    asset_type: str
    sector: str | None
    industry: str | None
    market_cap: float | None
    currency: str | None
    exchange: str | None


class ProviderError(RuntimeError):
    """A provider call failed; the message names the provider and never holds the key."""

    retryable = False


class ProviderAuthError(ProviderError):
    """The key is missing, unknown or invalid (401 and friends): never retried."""


class ProviderEntitlementError(ProviderError):
    """The plan does not cover this data (403/402): never retried."""


class ProviderRateLimited(ProviderError):
    """429, or FMP's 'Limit Reach' body: retried after a wait, then given up."""

    retryable = True


class ProviderTransientError(ProviderError):
    """5xx, timeouts, connection resets: retried with backoff and jitter, then given up."""

    retryable = True


class ProviderBadResponse(ProviderError):
    """The vendor answered 200 with something we cannot read (malformed JSON, wrong shape)."""


class PriceProvider(Protocol):
    """What the market-data flow needs from a price source: raw bars and corporate actions."""

    name: str

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Raw (as-traded) bars of ``symbol`` from ``start`` to ``end`` inclusive (empty when none)."""
        ...

    def corporate_actions(self, symbol: str, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Splits and cash dividends of ``symbol`` with ex-date from ``start`` to ``end`` inclusive.

        As the vendor sends them, ascending by ex-date (not validated: the market-data run
        rejects a non-positive value, a non-session ex-date and conflicting duplicates).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class GroupedPriceProvider(PriceProvider, Protocol):
    """A price source that can return the whole market for one date in one request."""

    def grouped_daily(self, day: dt.date) -> pd.DataFrame:
        """Every symbol's bar for ``day`` (empty on a holiday)."""
        ...


class MarketActionProvider(PriceProvider, Protocol):
    """A price source that can list every symbol's actions over a date range in a few requests."""

    def market_actions(self, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Every symbol's splits and cash dividends with ex-date from ``start`` to ``end``."""
        ...


class ProfileProvider(Protocol):
    """A source of security profiles (sector, industry, market cap)."""

    name: str

    def profile(self, symbol: str) -> Profile | None:
        """The profile of ``symbol``, or None when the vendor does not know it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class RateProvider(Protocol):
    """A source of rate series observations (percent)."""

    name: str

    def observations(
        self, series_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, float]]:
        """Non-missing observations from ``start`` to ``end`` inclusive, ascending."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

"""Polygon.io (now Massive.com): daily aggregates, splits and cash dividends.

Price basis: bars are requested with ``adjusted=false``, so they are **as traded** (raw); the
bar frame's ``adj_close`` repeats ``close``. Polygon's ``adjusted=true`` is split-adjusted as
of the request date (and never dividend-adjusted), so bars fetched on different days would be
in different bases after a split. The splits (``/v3/reference/splits``) and cash dividends
(``/v3/reference/dividends``) come separately, and the adjusted series is derived from them.

Dates: ``t`` is Unix milliseconds, at 00:00 America/New_York for per-ticker bars and at the
16:00 ET close for grouped bars; both become the New York calendar date. A split's
``execution_date`` and a dividend's ``ex_dividend_date`` are the ex-dates.

Pagination: every list endpoint may answer with a ``next_url`` cursor that does not carry the
key; it is followed (the key re-added, only on Polygon's own hosts) until it is absent.
"""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import httpx
import pandas as pd

from sigmasight.domain import ActionSpec
from sigmasight.providers.base import (
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderError,
    ProviderRateLimited,
    empty_bars,
)
from sigmasight.providers.http import Query, VendorHttp, bar_frame

NEW_YORK = "America/New_York"
_GOOD_STATUSES = ("OK", "DELAYED")
#: Hosts that may receive the key when following ``next_url`` (besides the base URL's).
_POLYGON_HOSTS = frozenset({"api.polygon.io", "api.massive.com"})
_MAX_PAGES = 1000
#: Results per page of the reference endpoints (their maximum).
_REFERENCE_LIMIT = 1000


class PolygonClient(VendorHttp):
    """Polygon.io REST client for daily bars (stocks, options ``O:...``, indices ``I:...``).

    Constructed like :class:`~sigmasight.providers.http.VendorHttp`: ``api_key`` is sent as
    the ``apiKey`` query parameter (and re-added to every ``next_url``); the base URL
    defaults to ``https://api.polygon.io`` (``https://api.massive.com`` is the new canonical
    host, both serve the same API) and the limit to the free plan's 5 requests per minute.
    """

    name = "polygon"
    key_param = "apiKey"
    default_base_url = "https://api.polygon.io"
    default_per_minute = 5.0

    @property
    def _hosts(self) -> frozenset[str]:
        """Hosts that may receive the key in a ``next_url``: Polygon's and the base URL's."""
        return _POLYGON_HOSTS | {self._http.base_url.host}

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Raw (as-traded) daily bars of one ticker, ``start`` to ``end`` inclusive.

        Parameters
        ----------
        symbol : str
            Case-sensitive ticker: ``AAPL``, ``BRK.B``, ``O:SPY251219C00600000``, ``I:SPX``.
        start, end : datetime.date
            Inclusive New York trading dates.

        Returns
        -------
        pandas.DataFrame
            A bar frame (``BAR_COLUMNS``) ascending by date; empty when Polygon has no bars
            (holidays, delisted, option without trades). ``adj_close`` equals ``close`` (both
            as traded); ``vendor_status`` is ``"DELAYED"`` on a delayed plan, else None.
        """
        if start > end:
            return empty_bars()
        path = (
            f"/v2/aggs/ticker/{quote(symbol, safe=':')}/range/1/day/"
            f"{start.isoformat()}/{end.isoformat()}"
        )
        pages = self._pages(path, {"adjusted": "false", "sort": "asc", "limit": 50000}, symbol)
        return self._frame(pages, symbol)

    def corporate_actions(self, symbol: str, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Splits and cash dividends of one ticker with ex-date ``start`` to ``end`` inclusive.

        Parameters
        ----------
        symbol : str
            Case-sensitive ticker. An option ticker (``O:...``) has no actions of its own
            (its underlying's apply), so it costs no request.
        start, end : datetime.date
            Inclusive ex-date range.

        Returns
        -------
        list of ActionSpec
            Ascending by ex-date, splits before dividends on one date. A split's value is
            ``split_to / split_from`` (new shares per old share); a dividend's is
            ``cash_amount``. Dividends of different ``dividend_type`` (regular ``CD``,
            special ``SC``, capital gains ``LT``/``ST``) on one ex-date are one cash dividend
            of their sum; a record repeated with the same amount counts once.
        """
        if start > end or symbol.startswith("O:"):
            return []
        return self._actions({"ticker": symbol}, start, end, symbol)

    def market_actions(self, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Every ticker's splits and cash dividends with ex-date ``start`` to ``end`` inclusive.

        The same endpoints without a ``ticker`` filter: a nightly run learns about the whole
        market's actions of the last weeks in a handful of pages instead of two requests per
        symbol. Values are as in :meth:`corporate_actions`.
        """
        if start > end:
            return []
        return self._actions({}, start, end, "the market")

    def grouped_daily(self, day: dt.date) -> pd.DataFrame:
        """Every US stock's raw (as-traded) bar for one date, in one request.

        Parameters
        ----------
        day : datetime.date
            The trading date.

        Returns
        -------
        pandas.DataFrame
            A bar frame sorted by symbol; empty on weekends and holidays. OTC tickers are
            excluded.
        """
        payload = self.get_json(
            f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}",
            {"adjusted": "false", "include_otc": "false"},
        )
        return self._frame([payload], None)

    # -- pagination and reference data ----------------------------------------------------

    def _pages(self, path: str, params: Query, what: str) -> list[object]:
        """The first page of ``path`` and every page its ``next_url`` cursors lead to."""
        payload = self.get_json(path, params)
        pages = [payload]
        seen: set[str] = set()
        next_url = _next_url(payload)
        while next_url is not None:
            if next_url in seen or len(pages) >= _MAX_PAGES:
                raise ProviderBadResponse(f"{self.name}: next_url loops for {what}")
            seen.add(next_url)
            self._check_next_url(next_url)
            payload = self.get_json(next_url)
            pages.append(payload)
            next_url = _next_url(payload)
        return pages

    def _actions(
        self, ticker: dict[str, str], start: dt.date, end: dt.date, what: str
    ) -> list[ActionSpec]:
        split_pages = self._pages(
            "/v3/reference/splits",
            {
                **ticker,
                "execution_date.gte": start.isoformat(),
                "execution_date.lte": end.isoformat(),
                "limit": _REFERENCE_LIMIT,
            },
            f"the splits of {what}",
        )
        dividend_pages = self._pages(
            "/v3/reference/dividends",
            {
                **ticker,
                "ex_dividend_date.gte": start.isoformat(),
                "ex_dividend_date.lte": end.isoformat(),
                "limit": _REFERENCE_LIMIT,
            },
            f"the dividends of {what}",
        )
        splits = [
            _split(row, self.name)
            for row in _reference_rows(split_pages, self.name)
            if start <= _ex_date(row, "execution_date", self.name) <= end
        ]
        dividends = _dividends(
            [
                row
                for row in _reference_rows(dividend_pages, self.name)
                if start <= _ex_date(row, "ex_dividend_date", self.name) <= end
            ],
            self.name,
        )
        order = {"split": 0, "cash_dividend": 1}
        return sorted(
            [*splits, *dividends], key=lambda a: (a.ex_date, a.symbol, order[a.kind], a.value)
        )

    # -- vendor quirks ---------------------------------------------------------------------

    def _body_error(self, payload: object | None, text: str) -> str | None:
        if not isinstance(payload, dict):
            return None
        status = payload.get("status")
        if status in _GOOD_STATUSES:
            return None
        detail = payload.get("error") or payload.get("message") or "no message"
        return f"status {status}: {detail}"

    def _classify(self, status: int, message: str) -> type[ProviderError]:
        lowered = message.lower()
        if "not_authorized" in lowered or "not entitled" in lowered:
            return ProviderEntitlementError
        if "exceeded the maximum requests" in lowered:
            return ProviderRateLimited
        return super()._classify(status, message)

    def _check_next_url(self, next_url: str) -> None:
        """Refuse to send the key to a host that is not Polygon's."""
        url = httpx.URL(next_url)
        if url.is_absolute_url and url.host not in self._hosts:
            raise ProviderBadResponse(f"{self.name}: next_url on unexpected host {url.host!r}")

    def _frame(self, pages: list[object], symbol: str | None) -> pd.DataFrame:
        symbols: list[str] = []
        stamps: list[int] = []
        prices: dict[str, list[float]] = {"o": [], "h": [], "l": [], "c": [], "v": []}
        statuses: list[str | None] = []
        for page in pages:
            envelope = _envelope(page)
            status = envelope["status"]
            rows = envelope.get("results") or []
            if not isinstance(rows, list):
                raise ProviderBadResponse(f"{self.name}: 'results' is not a list")
            for row in rows:
                if not isinstance(row, Mapping):
                    raise ProviderBadResponse(f"{self.name}: a result is not an object")
                try:
                    ticker = symbol if symbol is not None else str(row["T"])
                    stamps.append(int(row["t"]))
                    for field, values in prices.items():
                        values.append(float(row[field]))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ProviderBadResponse(
                        f"{self.name}: bad bar {_short(row)}: {type(exc).__name__} {exc}"
                    ) from None
                symbols.append(ticker)
                statuses.append("DELAYED" if status == "DELAYED" else None)
        if not symbols:
            return empty_bars()
        dates = list(pd.to_datetime(stamps, unit="ms", utc=True).tz_convert(NEW_YORK).date)
        return bar_frame(
            {
                "symbol": symbols,
                "date": dates,
                "open": prices["o"],
                "high": prices["h"],
                "low": prices["l"],
                "close": prices["c"],
                "adj_close": prices["c"],
                "volume": prices["v"],
                "vendor_status": statuses,
            }
        )


def _envelope(payload: object) -> Mapping[str, object]:
    if not isinstance(payload, Mapping) or payload.get("status") not in _GOOD_STATUSES:
        raise ProviderBadResponse(f"polygon: unexpected response {_short(payload)}")
    return payload


def _reference_rows(pages: list[object], vendor: str) -> list[Mapping[str, object]]:
    """The result objects of every page of a reference endpoint (none when omitted or null)."""
    rows: list[Mapping[str, object]] = []
    for page in pages:
        results = _envelope(page).get("results") or []
        if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
            raise ProviderBadResponse(f"{vendor}: 'results' is not a list of objects")
        rows.extend(results)
    return rows


def _ex_date(row: Mapping[str, object], field: str, vendor: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(row[field])[:10])
    except (KeyError, ValueError):
        raise ProviderBadResponse(f"{vendor}: bad {field} in {_short(row)}") from None


def _ticker(row: Mapping[str, object], vendor: str) -> str:
    ticker = row.get("ticker")
    if not isinstance(ticker, str) or not ticker:
        raise ProviderBadResponse(f"{vendor}: no ticker in {_short(row)}")
    return ticker


def _decimal(row: Mapping[str, object], field: str, vendor: str) -> Decimal:
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProviderBadResponse(f"{vendor}: bad {field} in {_short(row)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ProviderBadResponse(f"{vendor}: bad {field} in {_short(row)}") from None
    if not number.is_finite():
        raise ProviderBadResponse(f"{vendor}: bad {field} in {_short(row)}")
    return number


def _split(row: Mapping[str, object], vendor: str) -> ActionSpec:
    """A split record as new shares per old share; a non-positive side gives ratio 0."""
    split_from = _decimal(row, "split_from", vendor)
    split_to = _decimal(row, "split_to", vendor)
    # A zero or negative side is passed on as a non-positive ratio, which the market-data
    # run rejects into its data-quality output instead of failing the whole symbol here.
    ratio = split_to / split_from if split_from > 0 and split_to > 0 else min(split_to, Decimal(0))
    return ActionSpec(_ticker(row, vendor), _ex_date(row, "execution_date", vendor), "split", ratio)


def _dividends(rows: list[Mapping[str, object]], vendor: str) -> list[ActionSpec]:
    """One cash dividend per (ticker, ex-date): the sum over its dividend types.

    The same record twice counts once. One type with two different amounts on one date is a
    conflict, not two dividends: every amount is passed on, so that the market-data run
    rejects them as a duplicate with another value.
    """
    grouped: dict[tuple[str, dt.date], dict[str, list[Decimal]]] = {}
    for row in rows:
        key = (_ticker(row, vendor), _ex_date(row, "ex_dividend_date", vendor))
        amounts = grouped.setdefault(key, {}).setdefault(str(row.get("dividend_type") or ""), [])
        amount = _decimal(row, "cash_amount", vendor)
        if amount not in amounts:
            amounts.append(amount)
    dividends = []
    for (ticker, day), by_type in grouped.items():
        if all(len(amounts) == 1 for amounts in by_type.values()):
            total = sum((amounts[0] for amounts in by_type.values()), Decimal(0))
            dividends.append(ActionSpec(ticker, day, "cash_dividend", total))
        else:
            dividends.extend(
                ActionSpec(ticker, day, "cash_dividend", amount)
                for amounts in by_type.values()
                for amount in amounts
            )
    return dividends


def _next_url(payload: object) -> str | None:
    if isinstance(payload, Mapping):
        value = payload.get("next_url")
        if isinstance(value, str) and value:
            return value
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."

"""Polygon.io (now Massive.com) daily aggregates: one ticker over a range, or the whole market.

Price basis: ``adjusted=true`` is **split-adjusted only, not dividend-adjusted**. The bar
frame's ``adj_close`` therefore repeats ``close`` (the same split-only basis); returns computed
from it miss dividends (about 1.3 %/yr on SPY). Prefer a split+dividend basis (FMP
``dividend-adjusted``) when total return matters.

Dates: ``t`` is Unix milliseconds, at 00:00 America/New_York for per-ticker bars and at the
16:00 ET close for grouped bars; both become the New York calendar date.
"""

import datetime as dt
from collections.abc import Mapping
from urllib.parse import quote

import httpx
import pandas as pd

from sigmasight.providers.base import (
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderError,
    ProviderRateLimited,
    empty_bars,
)
from sigmasight.providers.http import VendorHttp, bar_frame

NEW_YORK = "America/New_York"
_GOOD_STATUSES = ("OK", "DELAYED")
#: Hosts that may receive the key when following ``next_url`` (besides the base URL's).
_POLYGON_HOSTS = frozenset({"api.polygon.io", "api.massive.com"})
_MAX_PAGES = 1000


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
        """Split-adjusted daily bars of one ticker, ``start`` to ``end`` inclusive.

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
            (holidays, delisted, option without trades). ``adj_close`` equals ``close``
            (split-adjusted only); ``vendor_status`` is ``"DELAYED"`` on a delayed plan, else
            None.
        """
        if start > end:
            return empty_bars()
        path = (
            f"/v2/aggs/ticker/{quote(symbol, safe=':')}/range/1/day/"
            f"{start.isoformat()}/{end.isoformat()}"
        )
        payload = self.get_json(path, {"adjusted": "true", "sort": "asc", "limit": 50000})
        pages = [payload]
        seen: set[str] = set()
        next_url = _next_url(payload)
        while next_url is not None:
            if next_url in seen or len(pages) >= _MAX_PAGES:
                raise ProviderBadResponse(f"{self.name}: next_url loops for {symbol}")
            seen.add(next_url)
            self._check_next_url(next_url)
            payload = self.get_json(next_url)
            pages.append(payload)
            next_url = _next_url(payload)
        return self._frame(pages, symbol)

    def grouped_daily(self, day: dt.date) -> pd.DataFrame:
        """Every US stock's split-adjusted bar for one date, in one request.

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
            {"adjusted": "true", "include_otc": "false"},
        )
        return self._frame([payload], None)

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


def _next_url(payload: object) -> str | None:
    if isinstance(payload, Mapping):
        value = payload.get("next_url")
        if isinstance(value, str) and value:
            return value
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."

"""Financial Modeling Prep (``/stable`` API): end-of-day bars, splits, dividends and profiles.

Price basis: bars come from ``/stable/historical-price-eod/non-split-adjusted``, so they are
**as traded** (raw) and ``adj_close`` repeats ``close``. (``/full`` is split-adjusted as of the
request date, so bars fetched on different days would be in different bases after a split.)
Splits (``/stable/splits``) and cash dividends (``/stable/dividends``) come separately, and the
adjusted series is derived from them.

Vendor quirks handled here (providers.md section 2 and docs/providers.md): rows come newest
first and are capped at 5000 per call, so long ranges are fetched in windows; the unadjusted
endpoint names its (unadjusted) prices ``adjOpen``/``adjHigh``/``adjLow``/``adjClose``; the
split and dividend endpoints take no date range, so their rows are filtered here; the quota
error ``Limit Reach`` may come with HTTP 200 and is then retried like a 429; error bodies may
be plain text.
"""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from sigmasight.domain import ActionSpec
from sigmasight.providers.base import (
    Profile,
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderError,
    ProviderRateLimited,
)
from sigmasight.providers.http import Query, VendorHttp, bar_frame

#: Calendar days per request. FMP returns at most 5000 rows per call; a window shorter than
#: 5000 calendar days cannot hold more, even for symbols that trade every day (crypto).
WINDOW_DAYS = 4500
#: The unadjusted (as-traded) end-of-day bars.
EOD_PATH = "/stable/historical-price-eod/non-split-adjusted"
#: Rows the split and dividend endpoints return at most (their ``limit`` maximum).
ACTIONS_LIMIT = 1000

_RATE_LIMIT_MARKERS = ("limit reach",)
_ENTITLEMENT_MARKERS = (
    "premium",
    "restricted endpoint",
    "legacy endpoint",
    "not available under your current subscription",
)
_ERROR_MARKERS = ("error message", "invalid api key", *_RATE_LIMIT_MARKERS, *_ENTITLEMENT_MARKERS)


class FmpClient(VendorHttp):
    """Financial Modeling Prep client: raw daily bars, actions and profiles (``/stable`` API).

    Constructed like :class:`~sigmasight.providers.http.VendorHttp`: ``api_key`` is sent as
    the ``apikey`` query parameter (lower-case k); the base URL defaults to
    ``https://financialmodelingprep.com`` and the limit to 300 requests per minute (the
    Starter plan). A 429 or a "Limit Reach" message is retried like any rate limit.
    ``daily_bars`` asks for at most ``window_days`` calendar days per request (below FMP's
    5,000-row cap).
    """

    name = "fmp"
    key_param = "apikey"
    default_base_url = "https://financialmodelingprep.com"
    default_per_minute = 300.0
    window_days: int = WINDOW_DAYS

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Raw (as-traded) end-of-day bars of one symbol, ``start`` to ``end`` inclusive.

        Parameters
        ----------
        symbol : str
            FMP symbol (``AAPL``, ``BRK-B``, ``SPY``).
        start, end : datetime.date
            Inclusive dates; ranges longer than ``window_days`` take one request per window.

        Returns
        -------
        pandas.DataFrame
            A bar frame (``BAR_COLUMNS``) ascending by date; empty when FMP has no rows.
            ``adj_close`` equals ``close`` (both as traded); ``vendor_status`` is None.
        """
        columns: dict[str, list[object]] = {
            "symbol": [],
            "date": [],
            "open": [],
            "high": [],
            "low": [],
            "close": [],
            "adj_close": [],
            "volume": [],
            "vendor_status": [],
        }
        for window_start, window_end in date_windows(start, end, self.window_days):
            payload = self.get_json(
                EOD_PATH,
                {
                    "symbol": symbol,
                    "from": window_start.isoformat(),
                    "to": window_end.isoformat(),
                },
            )
            for row in _rows(payload):
                try:
                    day = dt.date.fromisoformat(str(row["date"])[:10])
                    bar = [float(_price(row, field)) for field in ("open", "high", "low", "close")]
                    volume = float(row["volume"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise ProviderBadResponse(
                        f"{self.name}: bad bar for {symbol}: {type(exc).__name__} {exc}"
                    ) from None
                if not window_start <= day <= window_end:
                    continue
                columns["symbol"].append(symbol)
                columns["date"].append(day)
                for name, value in zip(("open", "high", "low", "close"), bar, strict=True):
                    columns[name].append(value)
                columns["adj_close"].append(bar[3])
                columns["volume"].append(volume)
                columns["vendor_status"].append(None)
        return bar_frame(columns)

    def corporate_actions(self, symbol: str, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Splits and cash dividends of one symbol with ex-date ``start`` to ``end`` inclusive.

        Parameters
        ----------
        symbol : str
            FMP symbol. An option ticker (``O:...``) has no actions of its own and costs no
            request.
        start, end : datetime.date
            Inclusive ex-date range (FMP takes none: the symbol's whole history comes back,
            newest first, and is filtered here).

        Returns
        -------
        list of ActionSpec
            Ascending by ex-date, splits first on one date. A split's value is ``numerator /
            denominator`` (new shares per old share); a dividend's is ``dividend``, the amount
            as declared (``adjDividend`` is split-adjusted to today's shares, the wrong basis
            for as-traded prices).
        """
        if start > end or symbol.startswith("O:"):
            return []
        actions: list[ActionSpec] = []
        params: Query = {"symbol": symbol, "limit": ACTIONS_LIMIT}
        for row in _rows(self.get_json("/stable/splits", params)):
            day = _action_date(row, symbol)
            if start <= day <= end:
                numerator = _amount(row, "numerator", symbol)
                denominator = _amount(row, "denominator", symbol)
                # A non-positive side becomes a non-positive ratio, which the market-data run
                # rejects into its data-quality output.
                ratio = (
                    numerator / denominator
                    if numerator > 0 and denominator > 0
                    else min(numerator, Decimal(0))
                )
                actions.append(ActionSpec(symbol, day, "split", ratio))
        for row in _rows(self.get_json("/stable/dividends", params)):
            day = _action_date(row, symbol)
            if start <= day <= end:
                amount = _amount(row, "dividend", symbol)
                actions.append(ActionSpec(symbol, day, "cash_dividend", amount))
        order = {"split": 0, "cash_dividend": 1}
        return sorted(actions, key=lambda a: (a.ex_date, order[a.kind], a.value))

    def profile(self, symbol: str) -> Profile | None:
        """The company profile of ``symbol``: name, asset type, sector, industry, market cap.

        Parameters
        ----------
        symbol : str
            FMP symbol.

        Returns
        -------
        Profile or None
            None when FMP does not know the symbol (``[]``). ETFs get ``asset_type="etf"`` and
            sector ``"ETF"`` when FMP leaves it empty; funds get ``"mutual_fund"``; the rest
            ``"stock"``. ``market_cap`` reads ``marketCap`` or the legacy ``mktCap``.
        """
        payload = self.get_json("/stable/profile", {"symbol": symbol})
        items = _rows(payload)
        if not items:
            return None
        item = next((i for i in items if i.get("symbol") == symbol), items[0])
        if _flag(item.get("isEtf")):
            asset_type = "etf"
        elif _flag(item.get("isFund")):
            asset_type = "mutual_fund"
        else:
            asset_type = "stock"
        sector = _text(item.get("sector"))
        if asset_type == "etf" and sector is None:
            sector = "ETF"
        market_cap = item.get("marketCap")
        if market_cap is None:
            market_cap = item.get("mktCap")
        return Profile(
            symbol=_text(item.get("symbol")) or symbol,
            name=_text(item.get("companyName")),
            asset_type=asset_type,
            sector=sector,
            industry=_text(item.get("industry")),
            market_cap=_number(market_cap),
            currency=_text(item.get("currency")),
            # Legacy v3 puts the full name in "exchange" and the code in "exchangeShortName".
            exchange=_text(item.get("exchangeShortName")) or _text(item.get("exchange")),
        )

    # -- vendor quirks ---------------------------------------------------------------------

    def _body_error(self, payload: object | None, text: str) -> str | None:
        if isinstance(payload, Mapping):
            message = payload.get("Error Message")
            if message is not None:
                return str(message) or "empty Error Message"
            return None
        if payload is None and any(m in text.lower() for m in _ERROR_MARKERS):
            return " ".join(text.split())[:300]
        return None

    def _classify(self, status: int, message: str) -> type[ProviderError]:
        lowered = message.lower()
        if any(marker in lowered for marker in _RATE_LIMIT_MARKERS):
            return ProviderRateLimited
        if "invalid api key" in lowered:
            return super()._classify(401, message)
        if any(marker in lowered for marker in _ENTITLEMENT_MARKERS):
            return ProviderEntitlementError
        return super()._classify(status, message)


def date_windows(start: dt.date, end: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive, non-overlapping inclusive windows of at most ``days`` days covering the range.

    Parameters
    ----------
    start, end : datetime.date
        Inclusive range; empty result when ``start > end``.
    days : int
        Largest window length in calendar days.

    Returns
    -------
    list of (datetime.date, datetime.date)
        Ascending windows; each starts the day after the previous one ends.
    """
    windows = []
    window_start = start
    while window_start <= end:
        window_end = min(end, window_start + dt.timedelta(days=days - 1))
        windows.append((window_start, window_end))
        window_start = window_end + dt.timedelta(days=1)
    return windows


def _rows(payload: object) -> list[Mapping[str, Any]]:
    """The row objects of a stable-API array (``[]`` and ``{}`` mean no data)."""
    if isinstance(payload, Mapping) and not payload:
        return []
    if not isinstance(payload, list) or not all(isinstance(r, Mapping) for r in payload):
        raise ProviderBadResponse(
            f"fmp: expected an array of objects, got {type(payload).__name__}"
        )
    return payload


def _price(row: Mapping[str, Any], field: str) -> Any:
    """``adjClose`` and friends on the unadjusted endpoint (FMP's naming), else ``close``."""
    name = "adj" + field.capitalize()
    return row[name] if name in row else row[field]


def _action_date(row: Mapping[str, Any], symbol: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(row["date"])[:10])
    except (KeyError, ValueError):
        raise ProviderBadResponse(f"fmp: bad date in an action of {symbol}") from None


def _amount(row: Mapping[str, Any], field: str, symbol: str) -> Decimal:
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProviderBadResponse(f"fmp: bad {field} in an action of {symbol}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ProviderBadResponse(f"fmp: bad {field} in an action of {symbol}") from None
    if not amount.is_finite():
        raise ProviderBadResponse(f"fmp: bad {field} in an action of {symbol}")
    return amount


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return float(str(value))
    except ValueError:
        return None

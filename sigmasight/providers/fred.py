"""FRED (St. Louis Fed) series observations, e.g. DGS10 in percent per annum.

Vendor quirks handled here (providers.md section 3): ``file_type=json`` must be asked for;
values are strings and ``"."`` means missing; error bodies are JSON even when labelled
``text/xml`` (and XML when JSON was not asked for); the key allows 120 requests per minute and
micro-bursts above about 2 per second are rejected, hence two limits.
"""

import datetime as dt
import html
import math
import re
from collections.abc import Mapping

from sigmasight.providers.base import ProviderBadResponse, ProviderError, ProviderRateLimited
from sigmasight.providers.http import VendorHttp

_XML_ERROR = re.compile(r"<error\b[^>]*\bmessage\s*=\s*\"([^\"]*)\"", re.IGNORECASE)
_MAX_PAGES = 1000


class FredClient(VendorHttp):
    """FRED API client for series observations.

    Constructed like :class:`~sigmasight.providers.http.VendorHttp`: ``api_key`` is sent as
    the ``api_key`` query parameter; the base URL defaults to ``https://api.stlouisfed.org``
    and the limit to FRED's 120 requests per minute and 2 per second (no burst).
    """

    name = "fred"
    key_param = "api_key"
    default_base_url = "https://api.stlouisfed.org"
    default_per_minute = 120.0
    default_per_second = 2.0

    def observations(
        self, series_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, float]]:
        """Non-missing observations of ``series_id`` from ``start`` to ``end`` inclusive.

        Parameters
        ----------
        series_id : str
            FRED series, e.g. ``DGS10``.
        start, end : datetime.date
            Inclusive observation dates.

        Returns
        -------
        list of (datetime.date, float)
            Ascending by date, in the series' units (percent for DGS10). Missing values
            (``"."``, e.g. bond-market holidays) are left out.
        """
        if start > end:
            return []
        params: dict[str, str | int] = {
            "series_id": series_id,
            "file_type": "json",
            "observation_start": start.isoformat(),
            "observation_end": end.isoformat(),
            "sort_order": "asc",
        }
        values: dict[dt.date, float] = {}
        received = 0
        for _ in range(_MAX_PAGES):
            page_params = dict(params)
            if received:
                page_params["offset"] = received
            payload = self.get_json("/fred/series/observations", page_params)
            rows, count, limit = _page(payload)
            received += len(rows)
            for row in rows:
                parsed = _observation(row)
                if parsed is not None and start <= parsed[0] <= end:
                    values[parsed[0]] = parsed[1]
            if count is None or received >= count:
                break
            if not rows:
                raise ProviderBadResponse(
                    f"{self.name}: {series_id} stopped after {received} of {count} observations"
                )
            params["limit"] = limit
        else:
            raise ProviderBadResponse(f"{self.name}: {series_id} needs over {_MAX_PAGES} pages")
        return sorted(values.items())

    # -- vendor quirks ---------------------------------------------------------------------

    def _body_error(self, payload: object | None, text: str) -> str | None:
        if isinstance(payload, Mapping):
            if "error_code" in payload or "error_message" in payload:
                return str(payload.get("error_message") or f"error_code {payload['error_code']}")
            return None
        if payload is None:
            match = _XML_ERROR.search(text)
            if match:
                return html.unescape(match.group(1))
        return None

    def _classify(self, status: int, message: str) -> type[ProviderError]:
        lowered = message.lower()
        if "too many requests" in lowered or "exceeded rate limit" in lowered:
            return ProviderRateLimited
        return super()._classify(status, message)


def _page(payload: object) -> tuple[list[object], int | None, int]:
    """Observations, total ``count`` and page ``limit`` of one response."""
    if not isinstance(payload, Mapping):
        raise ProviderBadResponse(f"fred: expected an object, got {type(payload).__name__}")
    rows = payload.get("observations")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise ProviderBadResponse("fred: 'observations' is not a list")
    count = payload.get("count")
    limit = payload.get("limit")
    return (
        rows,
        count if isinstance(count, int) else None,
        limit if isinstance(limit, int) and limit > 0 else 100000,
    )


def _observation(row: object) -> tuple[dt.date, float] | None:
    """(date, value) of one observation, or None when the value is missing (``"."``)."""
    if not isinstance(row, Mapping):
        raise ProviderBadResponse(f"fred: an observation is not an object: {row!r:.100}")
    try:
        day = dt.date.fromisoformat(str(row["date"]))
        raw = str(row["value"]).strip()
    except (KeyError, ValueError) as exc:
        raise ProviderBadResponse(
            f"fred: bad observation {row!r:.100}: {type(exc).__name__}"
        ) from None
    if raw in (".", ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ProviderBadResponse(f"fred: non-numeric value {raw!r:.40} on {day}") from None
    return (day, value) if math.isfinite(value) else None

"""Which provider serves what, from the configuration (FORMATS.md section 6).

Prices: the named provider, else the first vendor whose key is set (Polygon, then FMP),
else the synthetic provider. Naming a vendor whose key is missing is an error naming the
variable, never a silent fallback. Profiles come from FMP when its key is set, rates from
FRED when its key is set; otherwise from the synthetic provider, which the run records.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sigmasight.domain import InputError
from sigmasight.providers.base import PriceProvider, ProfileProvider, RateProvider
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.settings import Settings

if TYPE_CHECKING:
    from sigmasight.providers.fmp import FmpClient

PRICE_PROVIDERS = ("polygon", "fmp", "synthetic")
_KEY_VARIABLE = {"polygon": "POLYGON_API_KEY", "fmp": "FMP_API_KEY", "fred": "FRED_API_KEY"}


def _per_minute(limit: float) -> float | None:
    """A ``*_RATE_LIMIT`` setting as the client's per-minute limit (0: none)."""
    return limit if limit > 0 else None


def _key(settings: Settings, vendor: str) -> str | None:
    secret = getattr(settings, f"{vendor}_api_key")
    return secret.get_secret_value() if secret is not None and secret.get_secret_value() else None


def resolve_price_provider(settings: Settings, requested: str | None) -> str:
    """The price provider's name: the requested one (checked) or the configured chain."""
    if requested is not None:
        if requested not in PRICE_PROVIDERS:
            raise InputError(
                f"--provider {requested!r}: must be one of {', '.join(PRICE_PROVIDERS)}"
            )
        if requested != "synthetic" and _key(settings, requested) is None:
            raise InputError(f"--provider {requested} needs {_KEY_VARIABLE[requested]} to be set")
        return requested
    for vendor in ("polygon", "fmp"):
        if _key(settings, vendor):
            return vendor
    return "synthetic"


def open_price_provider(
    settings: Settings, name: str, *, universe: Sequence[str] = ()
) -> PriceProvider:
    """A connected price provider (close it when done)."""
    if name == "polygon":
        from sigmasight.providers.polygon import PolygonClient

        return PolygonClient(
            api_key=_key(settings, "polygon") or "",
            base_url=settings.polygon_base_url,
            per_minute=_per_minute(settings.polygon_rate_limit),
        )
    if name == "fmp":
        return _fmp(settings)
    return SyntheticProvider(universe=universe)


def _fmp(settings: Settings) -> "FmpClient":
    from sigmasight.providers.fmp import FmpClient

    return FmpClient(
        api_key=_key(settings, "fmp") or "",
        base_url=settings.fmp_base_url,
        per_minute=_per_minute(settings.fmp_rate_limit),
    )


def profile_provider_name(settings: Settings, price_provider: str) -> str:
    """FMP when its key is set (and prices are not synthetic on purpose), else synthetic."""
    return "fmp" if price_provider != "synthetic" and _key(settings, "fmp") else "synthetic"


def open_profile_provider(settings: Settings, name: str) -> ProfileProvider:
    """A connected profile provider."""
    if name == "fmp":
        return _fmp(settings)
    return SyntheticProvider()


def rate_provider_name(settings: Settings, price_provider: str) -> str:
    """FRED when its key is set (and prices are not synthetic on purpose), else synthetic."""
    return "fred" if price_provider != "synthetic" and _key(settings, "fred") else "synthetic"


def open_rate_provider(settings: Settings, name: str) -> RateProvider:
    """A connected rate provider."""
    if name == "fred":
        from sigmasight.providers.fred import FredClient

        limit = _per_minute(settings.fred_rate_limit)
        return FredClient(
            api_key=_key(settings, "fred") or "",
            base_url=settings.fred_base_url,
            per_minute=limit,
            # FRED's 2 requests/second cap goes with its per-minute limit; 0 lifts both.
            per_second=2.0 if limit is not None else None,
        )
    return SyntheticProvider()

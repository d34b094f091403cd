"""An offline, deterministic market-data provider: factor-structured bars, profiles and rates.

How the data is built
---------------------
Everything derives from ``seed`` and the NYSE calendar; nothing touches the network.

*Common factors.* For every NYSE session from :data:`ORIGIN` (the calendar's first session)
to the calendar's last session, one set of daily log-return factors is drawn once: market
(mean 0.0004, sd 0.011), six style spreads (value, growth, momentum, quality, size, low
volatility; growth is negatively correlated with value), a commodity factor, eleven sector
factors and the rate factor (the day's DGS10 change in percentage points). A slow common
volatility regime (an AR(1) in log-volatility, normalised to unit mean square) scales every
factor except rates, which gives the volatility clustering and fat tails VaR is meant to see.
The shocks of each calendar year come from their own generator, so moving the calendar's end
never changes an earlier day.

*Securities.* A security's daily log return is ``loadings · factors + idiosyncratic``. The
seven factor ETFs (``DEFAULT_FACTORS``) and the other demo ETFs and funds have fixed designs
(SPY = market; VTV = market + value; VUG = 1.1 market + growth; MTUM, QUAL; IWM = 1.15
market + size; USMV = 0.7 market + low vol; bond funds carry about six years of duration on
the rate factor; commodities load on the commodity factor), each with small idiosyncratic
noise. Every other symbol gets loadings from a SHA-256 hash of the symbol (stable across
runs): market beta in [0.5, 1.8], its sector factor (the demo security's sector when known,
else a hash-picked one), small style loadings and idiosyncratic volatility in [0.8 %, 2.5 %]
a day, trimmed so the total stays within about 15-50 % a year.

*Idiosyncratic noise* is counter-based: the draw of (symbol, day) is a SplitMix64 hash of a
per-symbol key and the day's ordinal, so it does not depend on which range or which other
symbols were asked for. Each calendar month's idiosyncratic sum is drawn directly as well
(the within-month draws are centred and re-added to it, which keeps them i.i.d. normal), so
the price on any day needs the days of its own month only, not the whole history.

*Price level.* The total-return level is ``P0 · exp(cumulative log return since
2025-06-30)``, with ``P0`` the :data:`~sigmasight.reference_data.REFERENCE_PRICES` entry or a
hash-derived level in [10, 400]. Open, high and low are derived from the close, the day's
return and hashed noise (``low <= min(open, close) <= max(open, close) <= high``); prices are
rounded to 4 decimals, ``adj_close`` equals ``close``, volume is a whole number.

*Corporate actions.* Bars are **as traded**, like the vendors' raw bars: a few symbols split
(:data:`SPLITS`) and a few pay regular quarterly cash dividends (:data:`DIVIDENDS`), and the
raw close falls by the split ratio and by the dividend on the ex-date. The raw close is the
total-return level times a factor that is 1 on 2025-06-30 (so that close still equals the
reference price there) and steps at every ex-date E: by ``1/k`` for a k-for-1 split and by
``(P_{E-1} - d) / P_{E-1}`` for a dividend ``d`` (C20's factor, ``P`` the raw close before E).
The dividend is ``annual yield / 4`` of the raw close before E, in cents. Adjusting the raw
closes with the actions that :meth:`SyntheticProvider.corporate_actions` returns (C19, C20)
gives back the total-return level's returns, up to the rounding of prices and dividends.

*Rates.* Any series id (``DGS10`` drives the rate factor) is a mean-reverting daily series
around 4.0 % with a daily sd of about 0.06 pp, bounded to [0.5, 8], whose changes correlate
about +0.2 with the market factor; it is rounded to 2 decimals and published on NYSE
sessions only.
"""

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from types import TracebackType
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from sigmasight import trading_calendar
from sigmasight.domain import RATE_SERIES, ActionSpec, SecuritySpec, parse_occ
from sigmasight.providers.base import BAR_COLUMNS, Profile, empty_bars
from sigmasight.reference_data import REFERENCE_PRICES, security_master

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]

#: First day the synthetic market exists (the first session of the trading calendar).
ORIGIN = dt.date(2000, 1, 3)

#: Date on which every symbol of REFERENCE_PRICES closes exactly at its reference price.
#: It is the last session of June 2025, so the anchor falls on a month boundary.
ANCHOR = dt.date(2025, 6, 30)

#: Splits of the synthetic market: (ex-date, new shares per old share) by symbol. Two follow
#: history (AAPL 4-for-1 in 2020, TSLA 3-for-1 in 2022); NVDA's 4-for-1 lies inside the
#: demo's recent history, so the demo exercises the split path.
SPLITS: dict[str, tuple[tuple[dt.date, Decimal], ...]] = {
    "AAPL": ((dt.date(2020, 8, 31), Decimal(4)),),
    "TSLA": ((dt.date(2022, 8, 25), Decimal(3)),),
    "NVDA": ((dt.date(2026, 10, 5), Decimal(4)),),
}

#: Regular quarterly cash dividends: (annual yield, month of the first quarterly payment,
#: day of month) by symbol. The ex-date is the first session on or after that day of the
#: month, in that month and every third month after it.
DIVIDENDS: dict[str, tuple[float, int, int]] = {
    "SPY": (0.012, 3, 20),
    "QQQ": (0.006, 3, 23),
    "VTI": (0.013, 3, 25),
    "AAPL": (0.0045, 2, 10),
    "MSFT": (0.0075, 2, 19),
    "JNJ": (0.03, 2, 24),
    "JPM": (0.021, 1, 6),
    "V": (0.007, 2, 10),
}

#: Sector names (FMP's) that carry a sector factor.
SECTORS: tuple[str, ...] = (
    "Technology",
    "Healthcare",
    "Financial Services",
    "Consumer Cyclical",
    "Consumer Defensive",
    "Communication Services",
    "Industrials",
    "Energy",
    "Basic Materials",
    "Utilities",
    "Real Estate",
)

#: Factor columns, in order: seven style factors, rates (DGS10 change in pp), commodities,
#: then one column per sector.
FACTORS: tuple[str, ...] = (
    "market",
    "value",
    "growth",
    "momentum",
    "quality",
    "size",
    "lowvol",
    "rate",
    "commodity",
    *SECTORS,
)

_STYLES = ("value", "growth", "momentum", "quality", "size", "lowvol")
_IDX = {name: i for i, name in enumerate(FACTORS)}
_N_FACTORS = len(FACTORS)

_MARKET_MEAN = 0.0004
_FACTOR_SD: dict[str, float] = {
    "market": 0.011,
    "value": 0.004,
    "growth": 0.004,
    "momentum": 0.005,
    "quality": 0.003,
    "size": 0.005,
    "lowvol": 0.003,
    "commodity": 0.009,
    **dict.fromkeys(SECTORS, 0.006),
}
_VALUE_GROWTH_CORR = -0.5
_REGIME_PHI = 0.985
_REGIME_SD = 0.25

_RATE_MEAN = 4.0
_RATE_SD = 0.06
_RATE_KAPPA = 0.01
_RATE_BOUNDS = (0.5, 8.0)
_RATE_MARKET_CORR = 0.2

_BETA_RANGE = (0.5, 1.8)
_IDIO_RANGE = (0.008, 0.025)
_MAX_ANNUAL_VOL = 0.48
_STYLE_LOADING = 0.3
_PRICE_RANGE = (10.0, 400.0)
_MARKET_CAP_RANGE = (1e9, 5e11)
_TICK = 1e-4

#: Fixed designs of the factor ETFs and the other demo ETFs and funds:
#: (factor loadings, idiosyncratic daily sd, typical daily volume).
_DESIGNS: dict[str, tuple[dict[str, float], float, float]] = {
    "SPY": ({"market": 1.0}, 0.0005, 7e7),
    "VTV": ({"market": 0.97, "value": 1.0}, 0.0012, 3e6),
    "VUG": ({"market": 1.1, "growth": 1.0}, 0.0012, 1e6),
    "MTUM": ({"market": 1.05, "momentum": 1.0}, 0.0015, 1e6),
    "QUAL": ({"market": 1.0, "quality": 1.0}, 0.0012, 1.5e6),
    "IWM": ({"market": 1.15, "size": 1.0}, 0.002, 3e7),
    "USMV": ({"market": 0.7, "lowvol": 1.0}, 0.0015, 2e6),
    "QQQ": ({"market": 1.15, "growth": 0.7, "Technology": 0.5}, 0.002, 4e7),
    "VTI": ({"market": 1.02, "size": 0.15}, 0.0007, 4e6),
    "BND": ({"market": 0.02, "rate": -0.055}, 0.0012, 6e6),
    "FXNAX": ({"market": 0.02, "rate": -0.06}, 0.0012, 5e4),
    "VNQ": ({"market": 0.85, "Real Estate": 1.0, "rate": -0.03}, 0.004, 4e6),
    "GLD": ({"market": 0.05, "commodity": 0.6}, 0.007, 8e6),
    "DJP": ({"market": 0.3, "commodity": 1.0}, 0.004, 1e5),
    "FCNTX": ({"market": 1.05, "growth": 0.5, "momentum": 0.2}, 0.003, 5e4),
    "FMAGX": ({"market": 1.05, "growth": 0.4, "momentum": 0.3}, 0.0035, 5e4),
    "VTIAX": ({"market": 0.8, "value": 0.2}, 0.006, 5e4),
}

#: Industries offered to hash-made profiles, per sector.
_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Technology": ("Software - Application", "Semiconductors", "Computer Hardware"),
    "Healthcare": ("Biotechnology", "Medical Devices", "Drug Manufacturers - General"),
    "Financial Services": ("Banks - Regional", "Asset Management", "Insurance - Diversified"),
    "Consumer Cyclical": ("Specialty Retail", "Restaurants", "Auto Parts"),
    "Consumer Defensive": ("Packaged Foods", "Beverages - Non-Alcoholic", "Discount Stores"),
    "Communication Services": ("Telecom Services", "Entertainment", "Advertising Agencies"),
    "Industrials": ("Aerospace & Defense", "Specialty Industrial Machinery", "Railroads"),
    "Energy": ("Oil & Gas E&P", "Oil & Gas Midstream", "Oil & Gas Equipment & Services"),
    "Basic Materials": ("Specialty Chemicals", "Gold", "Steel"),
    "Utilities": ("Utilities - Regulated Electric", "Utilities - Renewable"),
    "Real Estate": ("REIT - Residential", "REIT - Industrial", "Real Estate Services"),
}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_POW_M32 = 2.0**-32
_STREAMS = ("idio", "block", "bar_a", "bar_b")


def _digest(*parts: object) -> bytes:
    """SHA-256 of the parts joined by '|': a hash that is stable across processes."""
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()


def _uniforms(*parts: object) -> list[float]:
    """Four uniforms in [0, 1) from the hash of ``parts``."""
    digest = _digest(*parts)
    return [int.from_bytes(digest[i : i + 8], "big") / 2.0**64 for i in range(0, 32, 8)]


def _seed_words(*parts: object) -> list[int]:
    """Eight 32-bit words from the hash of ``parts``, to seed a numpy generator."""
    digest = _digest(*parts)
    return [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4)]


def _splitmix(state: U64Array) -> U64Array:
    """SplitMix64 finaliser: a well-mixed 64-bit hash of each element of ``state``."""
    z = state ^ (state >> np.uint64(30))
    z = z * _MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * _MIX2
    result: U64Array = z ^ (z >> np.uint64(31))
    return result


def _hashed(keys: U64Array, counters: npt.NDArray[np.integer]) -> U64Array:
    """One 64-bit hash per (key, counter): a ``keys[:, None]`` by ``counters`` grid."""
    state = keys[:, None] + counters.astype(np.uint64)[None, :] * _GOLDEN
    return _splitmix(state)


def _normal_pair(bits: U64Array) -> tuple[FloatArray, FloatArray]:
    """Two independent standard normals per hash (Box-Muller on its two 32-bit halves)."""
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * _TWO_POW_M32
    u2 = (bits & _LOW32).astype(np.float64) * _TWO_POW_M32
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = (2.0 * np.pi) * u2
    return radius * np.cos(angle), radius * np.sin(angle)


def _normal(bits: U64Array) -> FloatArray:
    """One standard normal per hash."""
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * _TWO_POW_M32
    u2 = (bits & _LOW32).astype(np.float64) * _TWO_POW_M32
    result: FloatArray = np.sqrt(-2.0 * np.log(u1)) * np.cos((2.0 * np.pi) * u2)
    return result


def _month(day: dt.date) -> int:
    """Month counter of ``day``: 12 x year + month - 1."""
    return day.year * 12 + day.month - 1


def _prices(log_price: FloatArray) -> FloatArray:
    """Prices from log prices, rounded to 4 decimals and at least one tick (monotone)."""
    result: FloatArray = np.maximum(np.round(np.exp(log_price), 4), _TICK)
    return result


def _keys(designs: Sequence["_Design"]) -> dict[str, U64Array]:
    """The hash keys of each noise stream, one per design."""
    return {
        stream: np.array([d.keys[i] for d in designs], dtype=np.uint64)
        for i, stream in enumerate(_STREAMS)
    }


@cache
def _demo_securities() -> dict[str, SecuritySpec]:
    """The demo security master by symbol (every demo holding and factor ETF)."""
    return security_master()


@dataclass(frozen=True)
class _Events:
    """The corporate actions of one symbol and the raw price factor they make."""

    #: Session positions of the ex-dates, ascending.
    positions: IntArray
    #: Cumulative log factor after each ex-date, minus the same at ANCHOR; entry 0 is the
    #: value before the first ex-date.
    levels: FloatArray
    actions: tuple[ActionSpec, ...]

    def log_factor(self, first: int, stop: int) -> FloatArray:
        """Log of the raw price factor on sessions ``[first, stop)``."""
        count = np.searchsorted(self.positions, np.arange(first, stop), side="right")
        result: FloatArray = self.levels[count]
        return result


@dataclass(frozen=True)
class _Design:
    """How one symbol's bars are made."""

    sector: str | None
    loadings: FloatArray
    idio_sd: float
    daily_sd: float
    log_p0: float
    volume: float
    keys: tuple[int, int, int, int]


class SyntheticProvider:
    """Deterministic, offline prices, profiles and rate series (see the module docstring).

    Implements :class:`~sigmasight.providers.base.GroupedPriceProvider`,
    :class:`~sigmasight.providers.base.MarketActionProvider`,
    :class:`~sigmasight.providers.base.ProfileProvider` and
    :class:`~sigmasight.providers.base.RateProvider`.

    Parameters
    ----------
    seed : int, default=20240101
        Seed of every random draw; equal seeds give equal data in any process.
    start : datetime.date, default=2015-01-02
        First day with data; nothing earlier is returned. Not before :data:`ORIGIN`.
    universe : sequence of str, default=()
        Symbols :meth:`grouped_daily` returns besides those already asked about. A real
        vendor's grouped call returns the whole market; the universe stands in for it.
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        seed: int = 20240101,
        start: dt.date = dt.date(2015, 1, 2),
        universe: Sequence[str] = (),
    ) -> None:
        if start < ORIGIN:
            raise ValueError(f"synthetic data starts on {ORIGIN}, got start={start}")
        self.seed = seed
        self.start = start
        self._universe = tuple(dict.fromkeys(s for s in universe if parse_occ(s) is None))
        self._asked: dict[str, None] = {}
        self._designs: dict[str, _Design] = {}
        self._events: dict[str, _Events | None] = {}
        self._rates: dict[str, FloatArray] = {}

        # trading_calendar has no public accessor for the calendar's last session.
        last = trading_calendar.last_session()
        days = trading_calendar.sessions(ORIGIN, last)
        self._dates = np.array(days, dtype=object)
        self._ordinals: IntArray = np.array([d.toordinal() for d in days], dtype=np.int64)
        months: IntArray = np.array([_month(d) for d in days], dtype=np.int64)
        self._months = months
        self._month0 = int(months[0])
        month_lengths = np.bincount(months - self._month0)
        self._month_len: IntArray = month_lengths.astype(np.int64)
        self._month_first: IntArray = np.concatenate(([0], np.cumsum(month_lengths)[:-1])).astype(
            np.int64
        )
        self._max_month_len = int(month_lengths.max())
        self._first_index = int(np.searchsorted(self._ordinals, start.toordinal()))
        self._anchor_index = int(np.searchsorted(self._ordinals, ANCHOR.toordinal()))
        shocks = self._yearly_normals("factors", _N_FACTORS)
        self._market_shock: FloatArray = shocks[:, _IDX["market"]]
        self._returns = self._factor_returns(shocks)
        cumulative = np.cumsum(self._returns, axis=0)
        self._cumulative: FloatArray = cumulative - cumulative[self._anchor_index]

    # -- protocol methods -------------------------------------------------------------------

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Raw (as-traded) bars of ``symbol`` from ``start`` to ``end`` inclusive, NYSE sessions only.

        Parameters
        ----------
        symbol : str
            Ticker. Option tickers (``O:...``) give an empty frame: options are valued by
            model from their underlying, not from bars.
        start, end : datetime.date
            Inclusive range; it is clipped to ``[self.start, last calendar session]``.

        Returns
        -------
        pandas.DataFrame
            Columns ``BAR_COLUMNS``, ascending by date; empty when no session is in range.
        """
        return self.bars_for([symbol], start, end)

    def grouped_daily(self, day: dt.date) -> pd.DataFrame:
        """Bars on ``day`` of the universe plus every symbol asked about so far, by symbol.

        A real vendor's grouped call returns the whole market; the synthetic market is the
        ``universe`` given at construction plus the symbols already requested. Empty on a
        day without a session or outside the provider's range.
        """
        symbols = sorted({*self._universe, *self._asked})
        return self.bars_for(symbols, day, day)

    def corporate_actions(self, symbol: str, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Splits and cash dividends of ``symbol`` with ex-date from ``start`` to ``end``.

        Parameters
        ----------
        symbol : str
            Ticker; only the symbols of :data:`SPLITS` and :data:`DIVIDENDS` have actions.
        start, end : datetime.date
            Inclusive ex-date range; it is clipped to ``[self.start, last calendar session]``.

        Returns
        -------
        list of ActionSpec
            Ascending by ex-date. A split's value is new shares per old share, a dividend's
            the amount per share in cents; both match the raw bars (see the module docstring).
        """
        events = self._symbol_events(symbol)
        if events is None:
            return []
        low = max(start, self.start)
        return [a for a in events.actions if low <= a.ex_date <= end]

    def market_actions(self, start: dt.date, end: dt.date) -> list[ActionSpec]:
        """Every synthetic symbol's actions with ex-date from ``start`` to ``end``.

        The market is the universe, the symbols asked about so far and those with actions.
        """
        symbols = sorted({*self._universe, *self._asked, *SPLITS, *DIVIDENDS})
        found = [a for s in symbols for a in self.corporate_actions(s, start, end)]
        return sorted(found, key=lambda a: (a.ex_date, a.symbol, a.kind))

    def profile(self, symbol: str) -> Profile | None:
        """Security-master facts: the demo security's when known, else hash-made ones.

        Parameters
        ----------
        symbol : str
            Ticker.

        Returns
        -------
        Profile or None
            None for an option ticker. An unknown symbol is a ``stock`` with a hash-picked
            sector and industry and a market cap in [1e9, 5e11].
        """
        if parse_occ(symbol) is not None:
            return None
        known = _demo_securities().get(symbol)
        if known is not None:
            return Profile(
                symbol=symbol,
                name=known.name,
                asset_type=known.asset_type,
                sector=known.sector,
                industry=known.industry,
                market_cap=known.market_cap,
                currency=known.currency,
                exchange=None,
            )
        sector = self._design(symbol).sector or SECTORS[0]
        u_industry, u_cap, _, _ = _uniforms("profile", self.seed, symbol)
        industries = _INDUSTRIES[sector]
        low, high = _MARKET_CAP_RANGE
        return Profile(
            symbol=symbol,
            name=f"{symbol} Synthetic Inc.",
            asset_type="stock",
            sector=sector,
            industry=industries[int(u_industry * len(industries))],
            market_cap=round(low * (high / low) ** u_cap, -6),
            currency="USD",
            exchange=None,
        )

    def observations(
        self, series_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, float]]:
        """Daily values (percent, 2 decimals) of a rate series on NYSE sessions in range.

        Parameters
        ----------
        series_id : str
            Any id; each id has its own path from the same generator. ``DGS10`` is the one
            that drives the rate factor of the prices.
        start, end : datetime.date
            Inclusive range; it is clipped to ``[self.start, last calendar session]``.

        Returns
        -------
        list of (datetime.date, float)
            Ascending, one observation per session, no gaps.
        """
        first, stop = self._index_range(start, end)
        if first >= stop:
            return []
        levels = np.round(self._rate_path(series_id)[first:stop], 2)
        return list(zip(self._dates[first:stop].tolist(), levels.tolist(), strict=True))

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- bulk -------------------------------------------------------------------------------

    def bars_for(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Bars of many symbols at once, vectorised (one numpy pass for all of them).

        Parameters
        ----------
        symbols : sequence of str
            Tickers; duplicates are dropped and option tickers skipped.
        start, end : datetime.date
            Inclusive range; it is clipped to ``[self.start, last calendar session]``.

        Returns
        -------
        pandas.DataFrame
            Columns ``BAR_COLUMNS``, ordered by the first appearance of the symbol in
            ``symbols``, then by date. Each (symbol, date) bar is the same in every call.
        """
        wanted = list(dict.fromkeys(s for s in symbols if parse_occ(s) is None))
        self._asked.update(dict.fromkeys(wanted))
        first, stop = self._index_range(start, end)
        if not wanted or first >= stop:
            return empty_bars()
        shift = np.zeros((len(wanted), stop - first))
        for row, symbol in enumerate(wanted):
            events = self._symbol_events(symbol)
            if events is not None:
                shift[row] = events.log_factor(first, stop)
        columns = self._generate([self._design(s) for s in wanted], first, stop, shift)
        n_days = stop - first
        return pd.DataFrame(
            {
                "symbol": np.repeat(np.array(wanted, dtype=object), n_days),
                "date": np.tile(self._dates[first:stop], len(wanted)),
                **{name: values.ravel() for name, values in columns.items()},
                "vendor_status": np.full(len(wanted) * n_days, None, dtype=object),
            },
            columns=list(BAR_COLUMNS),
        )

    # -- internals --------------------------------------------------------------------------

    def _index_range(self, start: dt.date, end: dt.date) -> tuple[int, int]:
        """Session positions ``[first, stop)`` of the clipped range."""
        first = max(int(np.searchsorted(self._ordinals, start.toordinal())), self._first_index)
        stop = int(np.searchsorted(self._ordinals, end.toordinal(), side="right"))
        return first, stop

    def _yearly_normals(self, stream: str, width: int) -> FloatArray:
        """Standard normals, one row per session, drawn by a generator per calendar year."""
        years = np.array([d.year for d in self._dates], dtype=np.int64)
        blocks = []
        for year in range(int(years[0]), int(years[-1]) + 1):
            rng = np.random.default_rng(_seed_words("synthetic", self.seed, stream, year))
            blocks.append(rng.standard_normal((int(np.count_nonzero(years == year)), width)))
        return np.concatenate(blocks)

    def _factor_returns(self, shocks: FloatArray) -> FloatArray:
        """Daily factor log returns (sessions x FACTORS) from standard normal ``shocks``."""
        regime_shocks = self._yearly_normals("regime", 1)[:, 0]
        log_vol = np.empty(len(regime_shocks))
        level = 0.0
        innovation_sd = _REGIME_SD * math.sqrt(1.0 - _REGIME_PHI**2)
        for i, shock in enumerate(regime_shocks.tolist()):
            level = _REGIME_PHI * level + innovation_sd * shock
            log_vol[i] = level
        scale = np.exp(log_vol - _REGIME_SD**2)  # E[scale**2] = 1

        returns = np.zeros((len(shocks), _N_FACTORS))
        for name, sd in _FACTOR_SD.items():
            returns[:, _IDX[name]] = sd * scale * shocks[:, _IDX[name]]
        own_growth = math.sqrt(1.0 - _VALUE_GROWTH_CORR**2)
        returns[:, _IDX["growth"]] = (
            _FACTOR_SD["growth"]
            * scale
            * (
                _VALUE_GROWTH_CORR * shocks[:, _IDX["value"]]
                + own_growth * shocks[:, _IDX["growth"]]
            )
        )
        returns[:, _IDX["market"]] += _MARKET_MEAN
        returns[:, _IDX["rate"]] = np.diff(self._rate_path(RATE_SERIES), prepend=_RATE_MEAN)
        return returns

    def _rate_path(self, series_id: str) -> FloatArray:
        """Unrounded daily levels of ``series_id`` on every session from ORIGIN (cached)."""
        path = self._rates.get(series_id)
        if path is not None:
            return path
        own = self._yearly_normals(f"rate:{series_id}", 1)[:, 0]
        shocks = (
            _RATE_MARKET_CORR * self._market_shock + math.sqrt(1.0 - _RATE_MARKET_CORR**2) * own
        ) * _RATE_SD
        low, high = _RATE_BOUNDS
        levels = np.empty(len(shocks))
        level = _RATE_MEAN
        for i, shock in enumerate(shocks.tolist()):
            level = min(max(level + _RATE_KAPPA * (_RATE_MEAN - level) + shock, low), high)
            levels[i] = level
        self._rates[series_id] = levels
        return levels

    def _design(self, symbol: str) -> _Design:
        """Loadings, noise, level and keys of ``symbol`` (cached)."""
        design = self._designs.get(symbol)
        if design is None:
            design = self._make_design(symbol)
            self._designs[symbol] = design
        return design

    def _make_design(self, symbol: str) -> _Design:
        """Fixed design for the demo ETFs and funds, hash-drawn loadings for the rest."""
        u = [x for part in range(4) for x in _uniforms("design", self.seed, symbol, part)]
        known = _demo_securities().get(symbol)
        loadings = np.zeros(_N_FACTORS)
        sector: str | None
        if symbol in _DESIGNS:
            weights, idio_sd, volume = _DESIGNS[symbol]
            for factor, weight in weights.items():
                loadings[_IDX[factor]] = weight
            sector = known.sector if known else None
        else:
            sector = known.sector if known else SECTORS[int(u[0] * len(SECTORS))]
            beta_low, beta_high = _BETA_RANGE
            loadings[_IDX["market"]] = beta_low + (beta_high - beta_low) * u[1]
            if sector in SECTORS:
                loadings[_IDX[sector]] = 0.7 + 0.6 * u[2]
            for i, style in enumerate(_STYLES):
                loadings[_IDX[style]] = _STYLE_LOADING * (2.0 * u[3 + i] - 1.0)
            idio_low, idio_high = _IDIO_RANGE
            idio_sd = idio_low + (idio_high - idio_low) * u[9]
            ceiling = _MAX_ANNUAL_VOL / math.sqrt(252.0)
            systematic = self._systematic_variance(loadings)
            if systematic + idio_sd**2 > ceiling**2:
                idio_sd = math.sqrt(max(ceiling**2 - systematic, idio_low**2))
            volume = 2e5 * 250.0 ** u[10]
        reference = REFERENCE_PRICES.get(symbol)
        if reference is None:
            low, high = _PRICE_RANGE
            reference = low * (high / low) ** u[11]
        digest = _digest("keys", self.seed, symbol)
        k0, k1, k2, k3 = (int.from_bytes(digest[i : i + 8], "big") for i in range(0, 32, 8))
        return _Design(
            sector=sector,
            loadings=loadings,
            idio_sd=idio_sd,
            daily_sd=math.sqrt(self._systematic_variance(loadings) + idio_sd**2),
            log_p0=math.log(reference),
            volume=volume,
            keys=(k0, k1, k2, k3),
        )

    @staticmethod
    def _systematic_variance(loadings: FloatArray) -> float:
        """Approximate daily variance explained by the factors (regime averaged out)."""
        sds = np.array([_FACTOR_SD.get(name, _RATE_SD) for name in FACTORS])
        return float(np.sum((loadings * sds) ** 2))

    def _generate(
        self, designs: Sequence[_Design], first: int, stop: int, shift: FloatArray
    ) -> dict[str, FloatArray]:
        """OHLC, adj_close and volume arrays (symbols x sessions ``[first, stop)``).

        ``shift`` (same shape) is added to every log price: the corporate-action factor.
        """
        daily_sd = np.array([d.daily_sd for d in designs])[:, None]
        keys = _keys(designs)
        log_close, day_return = self._total_return(designs, first, stop)
        log_close = log_close + shift

        ordinals = self._ordinals[first:stop]
        gap, volume_noise = _normal_pair(_hashed(keys["bar_a"], ordinals))
        high_noise, low_noise = _normal_pair(_hashed(keys["bar_b"], ordinals))
        log_open = log_close - 0.7 * day_return + 0.2 * daily_sd * gap
        log_high = np.maximum(log_open, log_close) + 0.5 * daily_sd * np.abs(high_noise)
        log_low = np.minimum(log_open, log_close) - 0.5 * daily_sd * np.abs(low_noise)
        surprise = np.abs(day_return) / daily_sd
        volume = np.floor(
            np.array([d.volume for d in designs])[:, None]
            * np.exp(0.3 * volume_noise + 0.4 * surprise - 0.3)
        )
        close = _prices(log_close)
        return {
            "open": _prices(log_open),
            "high": _prices(log_high),
            "low": _prices(log_low),
            "close": close,
            "adj_close": close.copy(),
            "volume": np.maximum(volume, 1.0),
        }

    def _total_return(
        self, designs: Sequence[_Design], first: int, stop: int
    ) -> tuple[FloatArray, FloatArray]:
        """Log total-return level and daily log return (symbols x sessions ``[first, stop)``)."""
        loadings = np.stack([d.loadings for d in designs])
        idio_sd = np.array([d.idio_sd for d in designs])
        systematic_level, systematic_return = self._systematic(loadings, first, stop)
        idio_level, idio_return = self._idiosyncratic(_keys(designs), idio_sd, first, stop)
        log_close = np.array([d.log_p0 for d in designs])[:, None] + systematic_level + idio_level
        return log_close, systematic_return + idio_return

    def _symbol_events(self, symbol: str) -> _Events | None:
        """The actions of ``symbol`` and its raw price factor (cached); None without actions."""
        if symbol not in self._events:
            self._events[symbol] = self._make_events(symbol)
        return self._events[symbol]

    def _make_events(self, symbol: str) -> _Events | None:
        """Work out the dividends (they depend on the raw price) and the factor's steps.

        Ex-dates after ANCHOR are walked forward and those on or before it backward, so the
        raw close before each dividend is known when its amount is set; every step is stored
        as the log of the factor by which the raw price moves on its ex-date.
        """
        splits = SPLITS.get(symbol, ())
        dividend = DIVIDENDS.get(symbol)
        if not splits and dividend is None:
            return None
        last = len(self._ordinals)
        # (position, kind, split ratio or quarterly yield)
        planned: list[tuple[int, str, float]] = []
        for day, ratio in splits:
            position = int(np.searchsorted(self._ordinals, day.toordinal()))
            if position < last and self._ordinals[position] == day.toordinal():
                planned.append((position, "split", float(ratio)))
        if dividend is not None:
            annual, month, day_of_month = dividend
            for year in range(ORIGIN.year, self._dates[-1].year + 1):
                for quarter in range(4):
                    index = month - 1 + 3 * quarter
                    wanted = dt.date(year + index // 12, index % 12 + 1, day_of_month)
                    position = int(np.searchsorted(self._ordinals, wanted.toordinal()))
                    if 0 < position < last:
                        planned.append((position, "cash_dividend", annual / 4.0))
        planned = sorted(set(planned))
        log_close, _ = self._total_return([self._design(symbol)], 0, last)
        level = log_close[0]
        anchor = self._anchor_index
        steps: dict[tuple[int, str], float] = {}
        values: dict[tuple[int, str], Decimal] = {}

        def settle(position: int, kind: str, size: float, before: float, own: bool) -> None:
            # ``before`` is the raw log close on the session before the ex-date without this
            # event's own step, which an ex-date on or before ANCHOR carries (``own``).
            key = (position, kind)
            if kind == "split":
                steps[key] = -math.log(size)
                values[key] = Decimal(str(size)).normalize()
                return
            raw = math.exp(before)
            if own:
                # The raw close before E is X / f with f = X / (X + d): it equals X + d, so
                # d is the quarterly yield of X + d.
                amount = round(size / (1.0 - size) * raw, 2)
                step = math.log(raw / (raw + amount))
            else:
                amount = round(size * raw, 2)
                step = math.log((raw - amount) / raw)
            if amount > 0.0:
                steps[key] = step
                values[key] = Decimal(f"{amount:.2f}")

        total = 0.0
        for position, kind, size in (e for e in planned if e[0] > anchor):
            settle(position, kind, size, float(level[position - 1]) + total, own=False)
            total += steps.get((position, kind), 0.0)
        total = 0.0
        for position, kind, size in reversed([e for e in planned if e[0] <= anchor]):
            settle(position, kind, size, float(level[position - 1]) - total, own=True)
            total += steps.get((position, kind), 0.0)

        kept = sorted(steps)
        positions = np.array([p for p, _ in kept], dtype=np.int64)
        cumulative = np.concatenate(([0.0], np.cumsum([steps[k] for k in kept])))
        at_anchor = cumulative[int(np.searchsorted(positions, anchor, side="right"))]
        actions = tuple(
            ActionSpec(
                symbol, self._dates[p], "split" if k == "split" else "cash_dividend", values[(p, k)]
            )
            for p, k in kept
        )
        return _Events(positions=positions, levels=cumulative - at_anchor, actions=actions)

    def _systematic(
        self, loadings: FloatArray, first: int, stop: int
    ) -> tuple[FloatArray, FloatArray]:
        """Factor part of the log price (relative to ANCHOR) and of the daily log return."""
        shape = (len(loadings), stop - first)
        level = np.zeros(shape)
        daily = np.zeros(shape)
        # An explicit loop over factors (not a matmul) keeps every element's summation order
        # fixed, so a bar is bit-identical however many symbols share the call.
        for k in np.flatnonzero(np.any(loadings != 0.0, axis=0)).tolist():
            weight = loadings[:, k, None]
            level += weight * self._cumulative[None, first:stop, k]
            daily += weight * self._returns[None, first:stop, k]
        return level, daily

    def _idiosyncratic(
        self, keys: dict[str, U64Array], idio_sd: FloatArray, first: int, stop: int
    ) -> tuple[FloatArray, FloatArray]:
        """Idiosyncratic part of the log price (relative to ANCHOR) and of the daily return.

        Month ``M``'s total ``S_M ~ N(0, n_M sd^2)`` is hashed from (symbol, M). Within the
        month, ``e_i = sd (z_i - mean(z)) + S_M / n_M`` with hashed ``z_i``: the ``e_i`` are
        i.i.d. ``N(0, sd^2)`` and sum to ``S_M``. The level on a day of month ``M`` is the
        sum of the month totals between the anchor month and ``M`` plus the month-to-date
        sum; both sums run outward from the anchor so they never depend on the range.
        """
        n_symbols = len(idio_sd)
        anchor_month = _month(ANCHOR)
        month_first, month_last = int(self._months[first]), int(self._months[stop - 1])
        low, high = min(month_first, anchor_month), max(month_last, anchor_month)
        block_months = np.arange(low, high + 1, dtype=np.int64)
        block_lengths = self._month_len[block_months - self._month0]
        totals = (
            idio_sd[:, None]
            * np.sqrt(block_lengths)[None, :]
            * _normal(_hashed(keys["block"], block_months))
        )
        after = np.cumsum(totals[:, anchor_month + 1 - low :], axis=1)
        up_to = np.cumsum(totals[:, anchor_month - low :: -1], axis=1)
        # carried[:, j] = sum of month totals from after the anchor month through month
        # low - 1 + j (negative when that month precedes the anchor month).
        carried = np.concatenate((-up_to[:, ::-1], np.zeros((n_symbols, 1)), after), axis=1)

        window_first = int(self._month_first[month_first - self._month0])
        window_stop = int(
            self._month_first[month_last - self._month0]
            + self._month_len[month_last - self._month0]
        )
        window_months = self._months[window_first:window_stop]
        slot = window_months - month_first
        position = (
            np.arange(window_first, window_stop) - self._month_first[window_months - self._month0]
        )
        n_slots = month_last - month_first + 1
        draws = np.zeros((n_symbols, n_slots, self._max_month_len))
        draws[:, slot, position] = _normal(
            _hashed(keys["idio"], self._ordinals[window_first:window_stop])
        )
        lengths = block_lengths[month_first - low : month_last - low + 1].astype(np.float64)
        month_totals = totals[:, month_first - low : month_last - low + 1]
        centred = draws - (draws.sum(axis=2) / lengths)[:, :, None]
        steps = idio_sd[:, None, None] * centred + (month_totals / lengths)[:, :, None]
        to_date = np.cumsum(steps, axis=2)

        inside = slice(first - window_first, stop - window_first)
        slot_out, position_out = slot[inside], position[inside]
        level = carried[:, slot_out + month_first - low] + to_date[:, slot_out, position_out]
        daily = steps[:, slot_out, position_out]
        return level, daily

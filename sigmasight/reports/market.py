"""The reports' shared price panel: read once per run, cut per portfolio (pure numpy).

A report's replay chart, the underlying prices of its options and the benchmark's series come
from the adjusted closes of the portfolio's assets over the lookback window
(``sigmasight.dated_risk.adjusted_panel``). A run reads that panel once for every asset it
reports on (:class:`ReportMarket`) and each portfolio takes its cut (:meth:`ReportMarket.cut`),
which is exactly the panel a read of that portfolio's assets alone gives:

* the dates are those on which one of its assets has a bar (as ``load_panel`` counts them);
  when that is every date of the run's panel (the benchmark trades every session), the cut
  shares the run's adjusted prices, computed once;
* otherwise the adjustment (``sigmasight.risk.adjustment.adjusted_window``, column by column)
  is applied to its own dates, as a single read would.

So a report rendered in bulk is byte for byte the report rendered alone.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from sigmasight.reports.series import book_returns, wealth_and_drawdown
from sigmasight.risk.adjustment import PanelActions, adjusted_window
from sigmasight.risk.engine import FFILL_LIMIT
from sigmasight.risk.returns import ffill_prices
from sigmasight.risk.types import FloatArray, IntArray


@dataclass(frozen=True)
class PriceCut:
    """One portfolio's view of the panel: its dates, prices and derived benchmark series."""

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    prices: FloatArray
    last_price: dict[str, float]
    benchmark: str
    benchmark_wealth: FloatArray | None
    benchmark_returns: FloatArray | None


@dataclass
class ReportMarket:
    """Stored closes of the run's assets over the lookback window, with their actions.

    ``close`` is the as-traded close and ``stored`` the stored risk series (``load_panel``'s
    ``close`` and ``adj_close``), one column per symbol of ``symbols`` (sorted); ``actions``
    are those columns' corporate actions; ``end`` the report date whose basis applies.
    """

    end: dt.date
    benchmark: str
    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    close: FloatArray
    stored: FloatArray
    actions: PanelActions
    _full: PriceCut | None = field(default=None, repr=False, compare=False)
    _columns: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def covers(self, assets: Iterable[str]) -> bool:
        """Whether every asset is a column of the panel (read, with or without bars)."""
        index = self._index()
        return all(a in index for a in assets)

    def cut(self, assets: Iterable[str]) -> PriceCut:
        """The panel a read of ``assets`` alone gives (every asset must be covered)."""
        index = self._index()
        wanted = sorted(set(assets))
        cols = np.array([index[a] for a in wanted], dtype=np.int64)
        if not self.dates:
            return self._derive((), tuple(wanted), np.empty((0, len(wanted))))
        has_bar = ~np.isnan(self.close[:, cols]).all(axis=1) if cols.size else None
        if has_bar is None or has_bar.all():
            return self._full_cut()
        rows = np.flatnonzero(has_bar)
        dates = tuple(self.dates[int(r)] for r in rows)
        return self._derive(dates, tuple(wanted), self._adjust(rows, cols))

    def _index(self) -> dict[str, int]:
        """Column of each symbol, built once (a run cuts the panel for every portfolio)."""
        if self._columns is None:
            self._columns = {s: i for i, s in enumerate(self.symbols)}
        return self._columns

    def _adjust(self, rows: IntArray, cols: IntArray) -> FloatArray:
        ordinals = np.array([self.dates[int(r)].toordinal() for r in rows], dtype=np.int64)
        window = adjusted_window(
            ordinals,
            self.close[rows][:, cols],
            self.stored[rows][:, cols],
            self.actions.take(cols),
            self.end.toordinal(),
        )
        return np.asarray(window.prices, dtype=np.float64)

    def _full_cut(self) -> PriceCut:
        if self._full is None:
            rows = np.arange(len(self.dates), dtype=np.int64)
            cols = np.arange(len(self.symbols), dtype=np.int64)
            self._full = self._derive(self.dates, self.symbols, self._adjust(rows, cols))
        return self._full

    def _derive(
        self, dates: tuple[dt.date, ...], symbols: tuple[str, ...], prices: FloatArray
    ) -> PriceCut:
        last = ffill_prices(prices, FFILL_LIMIT)[-1] if dates else np.empty(0)
        last_price = {s: float(v) for s, v in zip(symbols, last, strict=False) if np.isfinite(v)}
        wealth = returns = None
        if len(dates) >= 2 and self.benchmark in symbols:
            returns = book_returns(prices, symbols, {self.benchmark: 1.0})
            wealth, _ = wealth_and_drawdown(returns)
        return PriceCut(dates, symbols, prices, last_price, self.benchmark, wealth, returns)

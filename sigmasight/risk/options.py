r"""European Black-Scholes-Merton option pricing and Greeks (continuous dividend yield).

Conventions (RISK-CONVENTIONS.md, "Option Greeks"; FORMATS.md section 5):

- Time to expiry ``T`` is in years, ACT/365 from the valuation date (:func:`year_fraction`).
- ``rate`` is a flat continuously compounded risk-free rate and ``dividend_yield`` a continuous
  yield ``q``, both as fractions (0.05 = 5 %, never percent). A Treasury yield quoted
  bond-equivalent in percent is converted with :func:`r_from_treasury_yield` (C11).
- ``vol`` is the annualised volatility as a fraction (0.20 = 20 %).
- European exercise. Using BSM for American single-name options is an accepted simplification.

Units:

- :func:`bsm` returns **raw** units: vega per 1.00 of vol, theta per **year**, rho per 1.00 of
  rate.
- :func:`desk_greeks` converts to the per-share desk units named in the field: vega per 1 vol
  point (/100), theta per **calendar day** (/365, not /252) and rho per 1 % of rate (/100).
- :func:`position_greeks` scales desk units by ``multiplier x contracts``. ``contracts`` is signed
  (short is negative), so every position figure keeps its natural sign: a short put has positive
  dollar delta, negative gamma and vega, and (usually) positive theta.

Edge cases (bad numbers never raise; only bad shapes or a non-boolean ``is_call`` do):

- An **expired** option (``years <= 0``) is worth its intrinsic value, ``max(S - K, 0)`` for a
  call and ``max(K - S, 0)`` for a put. Its delta is the exercise indicator (call 1 if
  ``S > K`` else 0; put -1 if ``S < K`` else 0; at the money it is worthless, so delta 0),
  and gamma, vega, theta and rho are 0. Rate, dividend yield and vol are not used, so a
  missing vol does not hide the intrinsic value. Pricing does not flag these positions: the
  risk engine flags expired positions from ``years <= 0``.
- A live option (``years > 0``) with ``vol <= 0`` gives NaN in every field (no exception).
- A NaN or infinite input that the formula uses, or ``spot <= 0`` or ``strike <= 0``, gives NaN
  in every field. No ``RuntimeWarning`` is emitted for these cases.
- Inputs that do not broadcast together raise ``ValueError``.
"""

import datetime as dt
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

# scipy ships no type stubs and pyproject has no mypy override for it; ndtr is wrapped below.
from scipy.special import ndtr  # type: ignore[import-untyped,unused-ignore]

from sigmasight.risk.types import FloatArray

DAYS_PER_YEAR = 365.0
"""ACT/365 day count for time to expiry; also the theta-per-calendar-day divisor."""

VOL_POINT = 100.0
"""Raw vega is per 1.00 of vol; the desk figure is per 1 vol point (0.01)."""

RATE_PERCENT = 100.0
"""Raw rho is per 1.00 of rate; the desk figure is per 1 % (0.01)."""

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _norm_cdf(x: FloatArray) -> FloatArray:
    # ndtr evaluates N(-x) directly, so put terms avoid the cancellation of 1 - N(x).
    out: FloatArray = np.asarray(ndtr(x), dtype=np.float64)
    return out


@dataclass(frozen=True)
class BsmResult:
    """BSM price and Greeks per share (per unit of underlying), in raw units.

    Every field is a float64 ndarray with the broadcast shape of the :func:`bsm` inputs
    (0-d when all inputs are scalars).

    Attributes
    ----------
    price : ndarray
        Option value per share, in the currency of ``spot``.
    delta : ndarray
        dV/dS (call in [0, e^{-qT}], put in [-e^{-qT}, 0]).
    gamma : ndarray
        d2V/dS2 per 1 currency unit of spot; >= 0.
    vega : ndarray
        dV/dsigma per 1.00 of vol (divide by 100 for per vol point); >= 0.
    theta : ndarray
        -dV/dT per **year** of calendar time (divide by 365 for per calendar day).
    rho : ndarray
        dV/dr per 1.00 of rate (divide by 100 for per 1 %); call >= 0, put <= 0.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def year_fraction(valuation: dt.date, expiry: dt.date) -> float:
    """Time from ``valuation`` to ``expiry`` in years, ACT/365.

    Parameters
    ----------
    valuation : datetime.date
        Valuation date (the close on T). ``datetime.datetime`` is rejected: intraday time would
        be silently truncated.
    expiry : datetime.date
        Option expiry date.

    Returns
    -------
    float
        ``(expiry - valuation).days / 365``; zero on the expiry date and negative after it
        (:func:`bsm` treats ``<= 0`` as expired).

    Raises
    ------
    TypeError
        If either argument is a ``datetime.datetime``.
    """
    if isinstance(valuation, dt.datetime) or isinstance(expiry, dt.datetime):
        raise TypeError("year_fraction takes datetime.date, not datetime.datetime")
    return (expiry - valuation).days / DAYS_PER_YEAR


def year_fractions(
    valuation: npt.ArrayLike | dt.date, expiry: npt.ArrayLike | dt.date
) -> FloatArray:
    """Vectorised ACT/365 year fractions over dates.

    Parameters
    ----------
    valuation : array_like of datetime64 or datetime.date, broadcastable with ``expiry``
        Valuation date(s); converted to ``datetime64[D]`` (any time of day is dropped).
    expiry : array_like of datetime64 or datetime.date, shape (n,) or scalar
        Expiry date(s).

    Returns
    -------
    ndarray of float64 with the broadcast shape
        Calendar days between the dates / 365; NaN where either date is NaT.

    Raises
    ------
    ValueError
        If the inputs do not broadcast together.
    """
    start = np.asarray(valuation, dtype="datetime64[D]")
    end = np.asarray(expiry, dtype="datetime64[D]")
    try:
        start, end = np.broadcast_arrays(start, end)
    except ValueError as exc:
        raise ValueError(f"valuation and expiry do not broadcast: {exc}") from exc
    days = (end - start).astype("timedelta64[D]")
    out: FloatArray = np.where(np.isnat(days), np.nan, days.astype(np.float64) / DAYS_PER_YEAR)
    return out


@overload
def r_from_treasury_yield(yield_pct: float) -> float: ...
@overload
def r_from_treasury_yield(yield_pct: FloatArray) -> FloatArray: ...
def r_from_treasury_yield(yield_pct: float | FloatArray) -> float | FloatArray:
    r"""Continuously compounded rate from a bond-equivalent Treasury yield in percent (C11).

    .. math:: r = 2 \ln\left(1 + \frac{y}{200}\right)

    Parameters
    ----------
    yield_pct : float or ndarray of shape (n,)
        Bond-equivalent (semi-annual) yield in **percent** (4.25 = 4.25 %), e.g. FRED DGS10.

    Returns
    -------
    float or ndarray of shape (n,)
        Continuously compounded rate as a fraction; NaN where ``y <= -200`` or ``y`` is NaN.
    """
    y = np.asarray(yield_pct, dtype=np.float64)
    growth = y / 200.0
    valid = growth > -1.0
    rate: FloatArray = np.where(valid, 2.0 * np.log1p(np.where(valid, growth, 0.0)), np.nan)
    if isinstance(yield_pct, np.ndarray):
        return rate
    return float(rate)


def bsm(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    years: npt.ArrayLike,
    rate: npt.ArrayLike,
    dividend_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> BsmResult:
    r"""European Black-Scholes-Merton price and Greeks, vectorised with broadcasting.

    .. math::

        d_1 = \frac{\ln(S/K) + (r - q + \sigma^2/2)T}{\sigma\sqrt{T}}, \quad
        d_2 = d_1 - \sigma\sqrt{T}

        C = S e^{-qT} N(d_1) - K e^{-rT} N(d_2), \quad
        P = K e^{-rT} N(-d_2) - S e^{-qT} N(-d_1)

    Greeks follow the table in RISK-CONVENTIONS.md exactly (see :class:`BsmResult` for units).
    Expired options and invalid inputs are handled as described in the module docstring.

    Parameters
    ----------
    spot : array_like of float, scalar or shape (n,)
        Underlying price S (> 0).
    strike : array_like of float, scalar or shape (n,)
        Strike K (> 0), same currency as ``spot``.
    years : array_like of float, scalar or shape (n,)
        Time to expiry T in years, ACT/365 (:func:`year_fraction`); ``<= 0`` means expired.
    rate : array_like of float, scalar or shape (n,)
        Continuously compounded risk-free rate r as a fraction.
    dividend_yield : array_like of float, scalar or shape (n,)
        Continuous dividend yield q as a fraction.
    vol : array_like of float, scalar or shape (n,)
        Annualised volatility sigma as a fraction (> 0 for live options).
    is_call : array_like of bool, scalar or shape (n,)
        True for a call, False for a put.

    Returns
    -------
    BsmResult
        Per-share price, delta, gamma, vega (per 1.00 vol), theta (per year) and rho
        (per 1.00 rate), float64 arrays of the broadcast shape.

    Raises
    ------
    ValueError
        If the inputs do not broadcast together.
    TypeError
        If ``is_call`` is not boolean.
    """
    flag = np.asarray(is_call)
    if flag.dtype != np.bool_:
        raise TypeError(f"is_call must be boolean, got dtype {flag.dtype}")
    floats = [
        np.asarray(x, dtype=np.float64) for x in (spot, strike, years, rate, dividend_yield, vol)
    ]
    try:
        s, k, t, r, q, sigma, call = np.broadcast_arrays(*floats, flag)
    except ValueError as exc:
        raise ValueError(f"bsm inputs do not broadcast together: {exc}") from exc

    base_ok = np.isfinite(s) & np.isfinite(k) & np.isfinite(t) & (s > 0.0) & (k > 0.0)
    expired = base_ok & (t <= 0.0)
    live = (
        base_ok & (t > 0.0) & np.isfinite(r) & np.isfinite(q) & np.isfinite(sigma) & (sigma > 0.0)
    )

    # Substitute harmless values outside `live` so the formulas emit no RuntimeWarning.
    s_ = np.where(live, s, 1.0)
    k_ = np.where(live, k, 1.0)
    t_ = np.where(live, t, 1.0)
    r_ = np.where(live, r, 0.0)
    q_ = np.where(live, q, 0.0)
    v_ = np.where(live, sigma, 1.0)

    sqrt_t = np.sqrt(t_)
    vol_sqrt_t = v_ * sqrt_t
    d1 = (np.log(s_ / k_) + (r_ - q_ + 0.5 * v_ * v_) * t_) / vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    s_disc = s_ * np.exp(-q_ * t_)
    k_disc = k_ * np.exp(-r_ * t_)
    pdf_d1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    n_d1, n_d2 = _norm_cdf(d1), _norm_cdf(d2)
    n_md1, n_md2 = _norm_cdf(-d1), _norm_cdf(-d2)

    decay = -s_disc * pdf_d1 * v_ / (2.0 * sqrt_t)
    live_price = np.where(call, s_disc * n_d1 - k_disc * n_d2, k_disc * n_md2 - s_disc * n_md1)
    live_delta = np.where(call, np.exp(-q_ * t_) * n_d1, -np.exp(-q_ * t_) * n_md1)
    live_gamma = np.exp(-q_ * t_) * pdf_d1 / (s_ * vol_sqrt_t)
    live_vega = s_disc * pdf_d1 * sqrt_t
    live_theta = np.where(
        call,
        decay + q_ * s_disc * n_d1 - r_ * k_disc * n_d2,
        decay - q_ * s_disc * n_md1 + r_ * k_disc * n_md2,
    )
    live_rho = np.where(call, k_disc * t_ * n_d2, -k_disc * t_ * n_md2)

    intrinsic = np.where(call, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    exercise_delta = np.where(call, (s > k).astype(np.float64), -(s < k).astype(np.float64))

    def pick(live_value: FloatArray, expired_value: FloatArray | float) -> FloatArray:
        out: FloatArray = np.where(live, live_value, np.where(expired, expired_value, np.nan))
        return out

    return BsmResult(
        price=pick(live_price, intrinsic),
        delta=pick(live_delta, exercise_delta),
        gamma=pick(live_gamma, 0.0),
        vega=pick(live_vega, 0.0),
        theta=pick(live_theta, 0.0),
        rho=pick(live_rho, 0.0),
    )


def desk_greeks(result: BsmResult) -> dict[str, FloatArray]:
    """Per-share Greeks in desk units, keyed by the FORMATS.md section 5 field names.

    Parameters
    ----------
    result : BsmResult
        Output of :func:`bsm` (raw units).

    Returns
    -------
    dict of str to ndarray
        Arrays of the result's shape:

        - ``delta``: per share, dV/dS;
        - ``gamma``: per share per 1 currency unit of spot;
        - ``vega_per_1pct_vol``: vega / 100, value change for +1 vol point;
        - ``theta_per_calendar_day``: theta / 365, value change over one calendar day
          (usually negative for long options);
        - ``rho_per_1pct_rate``: rho / 100, value change for +1 % in r.
    """
    return {
        "delta": result.delta,
        "gamma": result.gamma,
        "vega_per_1pct_vol": result.vega / VOL_POINT,
        "theta_per_calendar_day": result.theta / DAYS_PER_YEAR,
        "rho_per_1pct_rate": result.rho / RATE_PERCENT,
    }


def position_greeks(
    result: BsmResult,
    spot: npt.ArrayLike,
    multiplier: npt.ArrayLike,
    contracts: npt.ArrayLike,
) -> dict[str, FloatArray]:
    r"""Position-level Greeks, exposure and market value for signed option holdings.

    With ``n = multiplier x contracts`` (signed share count controlled by the position):

    .. math::

        \text{delta\_dollars} = \Delta \, n \, S, \quad
        \text{gamma\_shares\_per\_1usd} = \Gamma \, n, \quad
        \text{vega\_usd\_per\_1pct\_vol} = \frac{\nu}{100} n, \quad
        \text{theta\_usd\_per\_calendar\_day} = \frac{\Theta}{365} n, \quad
        \text{rho\_usd\_per\_1pct\_rate} = \frac{\rho}{100} n

    Parameters
    ----------
    result : BsmResult
        Output of :func:`bsm` for the same options (raw units).
    spot : array_like of float, broadcastable with ``result``
        Underlying price used to price ``result`` (currency per share).
    multiplier : array_like of float, broadcastable with ``result``
        Shares per contract (100 for US equity options).
    contracts : array_like of float, broadcastable with ``result``
        Signed number of contracts: long positive, **short negative**.

    Returns
    -------
    dict of str to ndarray
        Float64 arrays of the broadcast shape, all with the position's natural sign:

        - ``delta_dollars``: currency change per 1.00 relative move of the underlying
          (Delta x multiplier x contracts x S);
        - ``gamma_shares_per_1usd``: change in share-equivalent delta per +1 currency unit of S;
        - ``vega_usd_per_1pct_vol``: currency per +1 vol point;
        - ``theta_usd_per_calendar_day``: currency per calendar day passing;
        - ``rho_usd_per_1pct_rate``: currency per +1 % in r;
        - ``delta_equivalent_exposure``: the option's exposure to its underlying (C6), equal to
          ``delta_dollars``;
        - ``market_value``: price x multiplier x contracts (C7; negative for shorts).

    Raises
    ------
    ValueError
        If ``spot``, ``multiplier``, ``contracts`` and the result do not broadcast together.
    """
    desk = desk_greeks(result)
    try:
        s, mult, qty, _ = np.broadcast_arrays(
            np.asarray(spot, dtype=np.float64),
            np.asarray(multiplier, dtype=np.float64),
            np.asarray(contracts, dtype=np.float64),
            result.price,
        )
    except ValueError as exc:
        raise ValueError(f"position inputs do not broadcast with the result: {exc}") from exc
    shares = mult * qty
    delta_dollars = desk["delta"] * shares * s
    return {
        "delta_dollars": delta_dollars,
        "gamma_shares_per_1usd": desk["gamma"] * shares,
        "vega_usd_per_1pct_vol": desk["vega_per_1pct_vol"] * shares,
        "theta_usd_per_calendar_day": desk["theta_per_calendar_day"] * shares,
        "rho_usd_per_1pct_rate": desk["rho_per_1pct_rate"] * shares,
        "delta_equivalent_exposure": delta_dollars.copy(),
        "market_value": result.price * shares,
    }


__all__ = [
    "DAYS_PER_YEAR",
    "BsmResult",
    "bsm",
    "desk_greeks",
    "position_greeks",
    "r_from_treasury_yield",
    "year_fraction",
    "year_fractions",
]

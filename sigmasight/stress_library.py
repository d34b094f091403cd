"""Built-in stress scenarios: the original's 18 scenarios in five categories.

Shocks are simple returns of the seven factor ETFs of
:data:`sigmasight.domain.DEFAULT_FACTORS` (fractions: ``-0.35`` is a 35 % fall), and every
scenario lists every ETF, with ``0.0`` where the original did not shock that factor. The
original's factor names map to ETFs as Market=SPY, Value=VTV, Growth=VUG, Momentum=MTUM,
Quality=QUAL, Size=IWM and Low Volatility=USMV. Rate scenarios shock no ETF and move the
10-year Treasury yield (DGS10) by ``rate_shock_pp`` percentage points.

The magnitudes are the original's factor shocks taken literally as ETF returns. Severities
are the original's where it states one; the others follow its bands (mild 0-5 %,
moderate 5-15 %, severe 15-35 %, extreme 35 %+).
"""

import math
from collections.abc import Iterable, Mapping

from sigmasight.domain import DEFAULT_FACTORS, InputError, ScenarioSpec

#: Scenario categories, in display order.
CATEGORIES: tuple[str, ...] = ("market", "rates", "rotation", "volatility", "historical")

#: Allowed values of :attr:`ScenarioSpec.severity`.
SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe", "extreme")


def _shocks(moves: Mapping[str, float]) -> dict[str, float]:
    """Complete ``moves`` with 0.0 for every default factor ETF it does not name."""
    unknown = sorted(set(moves) - set(DEFAULT_FACTORS))
    if unknown:
        raise ValueError(f"unknown factor ETF(s) {unknown}")
    return {etf: float(moves.get(etf, 0.0)) for etf in DEFAULT_FACTORS}


def _scenario(
    name: str,
    category: str,
    severity: str,
    description: str,
    moves: Mapping[str, float] | None = None,
    rate_shock_pp: float = 0.0,
) -> ScenarioSpec:
    """Build one built-in scenario with a complete shock vector."""
    return ScenarioSpec(
        name=name,
        category=category,
        shocks=_shocks(moves or {}),
        rate_shock_pp=rate_shock_pp,
        severity=severity,
        description=description,
    )


#: The original's 18 scenarios (``app/config/stress_scenarios.json``).
BUILTIN_SCENARIOS: tuple[ScenarioSpec, ...] = (
    # market
    _scenario(
        "market_up_10",
        "market",
        "moderate",
        "Broad equity market rises 10 %.",
        {"SPY": 0.10},
    ),
    _scenario(
        "market_down_10",
        "market",
        "moderate",
        "Broad equity market falls 10 %, a typical correction.",
        {"SPY": -0.10},
    ),
    _scenario(
        "market_crash_35",
        "market",
        "severe",
        "Broad equity market crashes 35 %, a bear-market drawdown.",
        {"SPY": -0.35},
    ),
    _scenario(
        "market_rally_25",
        "market",
        "severe",
        "Broad equity market rallies 25 %.",
        {"SPY": 0.25},
    ),
    # rates
    _scenario(
        "rates_up_25bp",
        "rates",
        "mild",
        "The 10-year Treasury yield rises 25 basis points.",
        rate_shock_pp=0.25,
    ),
    _scenario(
        "rates_down_25bp",
        "rates",
        "mild",
        "The 10-year Treasury yield falls 25 basis points.",
        rate_shock_pp=-0.25,
    ),
    _scenario(
        "rates_up_100bp",
        "rates",
        "moderate",
        "The 10-year Treasury yield rises 100 basis points.",
        rate_shock_pp=1.0,
    ),
    _scenario(
        "rates_down_100bp",
        "rates",
        "moderate",
        "The 10-year Treasury yield falls 100 basis points.",
        rate_shock_pp=-1.0,
    ),
    _scenario(
        "rate_spike_300bp",
        "rates",
        "severe",
        "The 10-year Treasury yield spikes 300 basis points, as in an inflation shock.",
        rate_shock_pp=3.0,
    ),
    # rotation
    _scenario(
        "value_rotation_20",
        "rotation",
        "moderate",
        "Rotation from growth into value: value stocks gain 20 % while growth stocks lose 10 %.",
        {"VTV": 0.20, "VUG": -0.10},
    ),
    _scenario(
        "growth_rally_15",
        "rotation",
        "moderate",
        "Growth stocks rally 15 % with momentum up 10 %.",
        {"VUG": 0.15, "MTUM": 0.10},
    ),
    _scenario(
        "small_cap_outperformance_10",
        "rotation",
        "mild",
        "Small caps outperform, gaining 10 %.",
        {"IWM": 0.10},
    ),
    _scenario(
        "quality_flight_12",
        "rotation",
        "mild",
        "Flight to quality: quality stocks gain 12 % while the market slips 5 %.",
        {"QUAL": 0.12, "SPY": -0.05},
    ),
    # volatility
    _scenario(
        "vix_spike_150",
        "volatility",
        "severe",
        "Volatility spikes 150 %: the market falls 15 % and low-volatility stocks fall 25 %.",
        {"SPY": -0.15, "USMV": -0.25},
    ),
    _scenario(
        "liquidity_crisis",
        "volatility",
        "severe",
        "Liquidity dries up: the market falls 20 %, low volatility 30 % and small caps 10 %, "
        "while quality gains 15 %.",
        {"SPY": -0.20, "USMV": -0.30, "QUAL": 0.15, "IWM": -0.10},
    ),
    # historical
    _scenario(
        "financial_crisis_2008",
        "historical",
        "extreme",
        "Replay of the 2008 financial crisis: the market falls 45 % with value, small caps "
        "and low volatility hit hard and quality rising.",
        {"SPY": -0.45, "VTV": -0.30, "IWM": -0.25, "QUAL": 0.20, "USMV": -0.35},
    ),
    _scenario(
        "covid_crash_2020",
        "historical",
        "extreme",
        "Replay of the 2020 COVID crash: the market falls 35 %, value and small caps fall "
        "harder, growth and quality gain.",
        {"SPY": -0.35, "VUG": 0.15, "VTV": -0.40, "IWM": -0.30, "QUAL": 0.10},
    ),
    _scenario(
        "dotcom_crash_2000",
        "historical",
        "extreme",
        "Replay of the 2000 dot-com crash: the market falls 45 %, growth 60 % and momentum "
        "50 %, while value and quality gain.",
        {"SPY": -0.45, "VUG": -0.60, "VTV": 0.20, "MTUM": -0.50, "QUAL": 0.15},
    ),
)


def validate_scenario(spec: ScenarioSpec, factors: Iterable[str]) -> None:
    """Check that ``spec`` shocks exactly the factor ETFs ``factors`` with sane values.

    Parameters
    ----------
    spec : ScenarioSpec
        The scenario to check.
    factors : iterable of str
        The factor ETF symbols of the model (a mapping such as ``DEFAULT_FACTORS`` gives
        its keys).

    Raises
    ------
    InputError
        If a factor has no shock (a missing factor is an error, not a zero), a shock names
        an unknown factor, a shock is not finite or is at most -1 (a fall of 100 % or more),
        or ``rate_shock_pp`` is not finite. The message names the scenario and the factor.
    """
    expected = list(dict.fromkeys(factors))
    missing = [f for f in expected if f not in spec.shocks]
    if missing:
        raise InputError(
            f"scenario {spec.name!r}: no shock for factor(s) {', '.join(missing)} "
            "(every factor needs a shock; use 0.0 for unaffected)"
        )
    unknown = [f for f in spec.shocks if f not in expected]
    if unknown:
        raise InputError(
            f"scenario {spec.name!r}: unknown factor(s) {', '.join(unknown)} "
            f"(factors are {', '.join(expected)})"
        )
    for factor, shock in spec.shocks.items():
        if not isinstance(shock, int | float) or isinstance(shock, bool):
            raise InputError(
                f"scenario {spec.name!r}: shock for factor {factor} must be a number, got {shock!r}"
            )
        if not math.isfinite(shock) or shock <= -1.0:
            raise InputError(
                f"scenario {spec.name!r}: shock for factor {factor} must be a finite simple "
                f"return > -1, got {shock!r}"
            )
    if not math.isfinite(spec.rate_shock_pp):
        raise InputError(
            f"scenario {spec.name!r}: rate_shock_pp must be finite, got {spec.rate_shock_pp!r}"
        )

"""Validate a decoded portfolio bundle (FORMATS.md section 4) into a :class:`Bundle`.

Every problem is reported with its JSON path (``portfolios[0].positions[2].quantity``,
0-based indices) and a reason; up to 20 are collected into one :class:`InputError`.
An optional key given as ``null`` counts as absent. Unknown keys are rejected at every
level so that a misspelt optional field (``implied_vol``) is not silently dropped.
"""

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from sigmasight.domain import (
    DEFAULT_FACTORS,
    RATE_SERIES,
    Bundle,
    InputError,
    OccParts,
    OptionRight,
    OptionSpec,
    PortfolioSpec,
    PositionSpec,
    ScenarioSpec,
    SecuritySpec,
    parse_occ,
)
from sigmasight.risk.limits import LIMIT_KEYS, RANGE_KEYS, Bound, bound_problem, make_bound

MAX_REPORTED: Final = 20
ASSET_TYPES: Final = ("stock", "etf", "mutual_fund", "option", "index", "other")
RISK_FREE_RANGE: Final = (-0.05, 0.5)
#: Numeric(20, 8) columns hold magnitudes below 10**12.
MAX_MAGNITUDE: Final = Decimal(10) ** 12
#: Quantities and cash are stored as numeric(20, 8).
STORED_STEP: Final = Decimal("1e-8")
#: The largest contract multiplier accepted (stored as a 32-bit integer; real ones are 1-1000).
MAX_MULTIPLIER: Final = 1_000_000

TOP_KEYS: Final = frozenset(
    {
        "valuation_date",
        "risk_free_rate",
        "benchmark",
        "factor_etfs",
        "securities",
        "portfolios",
        "stress_scenarios",
        "default_limits",
    }
)
PORTFOLIO_KEYS: Final = frozenset(
    {"id", "name", "owner", "cash", "base_currency", "positions", "limits"}
)
POSITION_KEYS: Final = frozenset({"symbol", "quantity", "entry_price", "entry_date", "option"})
OPTION_KEYS: Final = frozenset(
    {"underlying", "type", "strike", "expiry", "multiplier", "implied_vol", "dividend_yield"}
)
SECURITY_KEYS: Final = frozenset(
    {"asset_type", "sector", "industry", "market_cap", "name", "currency"}
)

PORTFOLIO_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SYMBOL_RE: Final = re.compile(r"^[A-Z0-9.\-]{1,32}$")
CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ISO_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PLAIN_KEY_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_ABSENT: Final = object()


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    part = key if _PLAIN_KEY_RE.fullmatch(key) else f"[{json.dumps(key)}]"
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def _show(value: object) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _to_decimal(value: object) -> Decimal | None:
    """The exact value of a finite JSON number; None for anything else (bool, str, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


class _Validator:
    """Walks the bundle once, collecting problems and building the records."""

    def __init__(self, source: str, today: dt.date) -> None:
        self.source = source
        self.today = today
        self.problems: list[str] = []
        # Options must not have expired before this day.
        self.cutoff = today
        self.cutoff_label = "today"

    def add(self, path: str, reason: str) -> None:
        self.problems.append(f"{path or '(top level)'}: {reason}")

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        lines = [f"{self.source}: {problem}" for problem in self.problems[:MAX_REPORTED]]
        more = len(self.problems) - MAX_REPORTED
        if more > 0:
            lines.append(f"... and {more} more problem{'s' if more > 1 else ''}")
        raise InputError("\n".join(lines))

    def object_(
        self, value: object, path: str, allowed: frozenset[str], what: str = "an object"
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be {what}, got {_type_name(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    _child(path, str(key)),
                    f"unknown key {str(key)!r} (allowed: {', '.join(sorted(allowed))})",
                )
        return value

    def number(
        self,
        value: object,
        path: str,
        requirement: str,
        ok: Callable[[Decimal], bool] = lambda d: True,
        *,
        stored: bool = False,
    ) -> Decimal | None:
        if value is _ABSENT:
            self.add(path, f"is required ({requirement})")
            return None
        number = _to_decimal(value)
        if number is None or not ok(number):
            self.add(path, f"must be {requirement}, got {_show(value)}")
            return None
        if stored and abs(number) >= MAX_MAGNITUDE:
            self.add(path, f"{_show(value)} is too large (magnitude must be below 1e12)")
            return None
        if stored and number != number.quantize(STORED_STEP):
            # Stored with 8 decimals: anything finer would be rounded (1e-9 to zero).
            self.add(path, f"{_show(value)} has more than 8 decimal places")
            return None
        return number

    def string(
        self,
        value: object,
        path: str,
        requirement: str = "a non-empty string",
        pattern: re.Pattern[str] | None = None,
        max_length: int = 255,
    ) -> str | None:
        if value is _ABSENT:
            self.add(path, f"is required ({requirement})")
            return None
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > max_length
            or (pattern is not None and not pattern.fullmatch(value))
        ):
            self.add(path, f"must be {requirement}, got {_show(value)}")
            return None
        return value

    def optional_string(self, value: object, path: str, max_length: int = 255) -> str | None:
        if value is _ABSENT or value is None:
            return None
        return self.string(
            value, path, f"a non-empty string of at most {max_length} characters", None, max_length
        )

    def date(self, value: object, path: str) -> dt.date | None:
        if value is _ABSENT:
            self.add(path, "is required (an ISO date, YYYY-MM-DD)")
            return None
        if isinstance(value, str) and ISO_DATE_RE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.add(path, f"must be an ISO date (YYYY-MM-DD), got {_show(value)}")
        return None

    def currency(self, value: object, path: str) -> str | None:
        if value is _ABSENT or value is None:
            return "USD"
        return self.string(value, path, "a 3-letter upper-case currency code", CURRENCY_RE, 3)

    def bundle(self, data: object) -> Bundle | None:
        top = self.object_(data, "", TOP_KEYS, "a JSON object")
        if top is None:
            return None
        valuation_date = self.valuation_date(top.get("valuation_date"))
        risk_free_rate = self.risk_free_rate(top.get("risk_free_rate"))
        benchmark = "SPY"
        if top.get("benchmark") is not None:
            benchmark = (
                self.string(top["benchmark"], "benchmark", "a non-empty string", max_length=32)
                or benchmark
            )
        factors = self.factors(top.get("factor_etfs"))
        securities = self.securities(top.get("securities"))
        if valuation_date is not None:
            self.cutoff, self.cutoff_label = valuation_date, "valuation_date"
        portfolios = self.portfolios(top.get("portfolios", _ABSENT))
        scenarios = self.scenarios(top.get("stress_scenarios"), factors)
        default_limits = self.limits(top.get("default_limits"), "default_limits")
        if self.problems or factors is None:
            return None
        return Bundle(
            portfolios=tuple(portfolios),
            valuation_date=valuation_date,
            risk_free_rate=risk_free_rate,
            benchmark=benchmark,
            factors=factors,
            securities=tuple(securities),
            scenarios=tuple(scenarios),
            default_limits=default_limits,
        )

    def limits(self, value: object, path: str) -> dict[str, Bound] | None:
        """A limits object (C31): key -> bound, ``[min, max]`` for a range; None when absent."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add(
                path,
                f"must be an object limit -> bound ({', '.join(LIMIT_KEYS)}), "
                f"got {_type_name(value)}",
            )
            return None
        found: dict[str, Bound] = {}
        for key, raw in value.items():
            key_path = _child(path, str(key))
            if key not in LIMIT_KEYS:
                self.add(key_path, f"unknown limit {key!r} (limits: {', '.join(LIMIT_KEYS)})")
                continue
            if raw is None:
                continue
            if key in RANGE_KEYS:
                items = raw if isinstance(raw, list) and len(raw) == 2 else []
                numbers = [_to_decimal(item) for item in items]
                if not numbers or any(n is None for n in numbers):
                    self.add(
                        key_path, f"must be a range [min, max] of two numbers, got {_show(raw)}"
                    )
                    continue
            else:
                numbers = [_to_decimal(raw)]
                if numbers[0] is None:
                    self.add(key_path, f"must be a number >= 0, got {_show(raw)}")
                    continue
            values = [float(n) for n in numbers if n is not None]
            problem = bound_problem(key, values)
            if problem is not None:
                self.add(key_path, problem)
                continue
            found[key] = make_bound(key, values)
        return found

    def valuation_date(self, value: object) -> dt.date | None:
        if value is None:
            return None
        day = self.date(value, "valuation_date")
        if day is not None and day > self.today:
            self.add("valuation_date", f"{day} is in the future (today is {self.today})")
            return None
        return day

    def risk_free_rate(self, value: object) -> float | None:
        if value is None:
            return None
        low, high = RISK_FREE_RANGE
        rate = self.number(
            value,
            "risk_free_rate",
            f"a number in [{low}, {high}] (annual, continuously compounded)",
            lambda d: Decimal(str(low)) <= d <= Decimal(str(high)),
        )
        return None if rate is None else float(rate)

    def factors(self, value: object) -> dict[str, str] | None:
        """The factor set; None when it is invalid (scenario completeness is then unchecked)."""
        if value is None:
            return dict(DEFAULT_FACTORS)
        if not isinstance(value, dict) or not value:
            self.add(
                "factor_etfs", f"must be a non-empty object symbol -> name, got {_show(value)}"
            )
            return None
        factors: dict[str, str] = {}
        seen_names: dict[str, str] = {}
        ok = True
        for symbol, name in value.items():
            path = _child("factor_etfs", str(symbol))
            if symbol == RATE_SERIES:
                self.add(path, f"{RATE_SERIES} is the rate series, not a factor ETF")
                ok = False
                continue
            if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
                self.add(path, f"{symbol!r} is not an ETF symbol (A-Z, 0-9, '.', '-')")
                ok = False
                continue
            checked = self.string(name, path, "a non-empty factor name", max_length=64)
            if checked is None:
                ok = False
            elif checked in seen_names:
                self.add(path, f"factor name {checked!r} is also used by {seen_names[checked]}")
                ok = False
            else:
                seen_names[checked] = symbol
                factors[symbol] = checked
        return factors if ok else None

    def securities(self, value: object) -> list[SecuritySpec]:
        if value is None:
            return []
        if not isinstance(value, dict):
            self.add("securities", f"must be an object symbol -> security, got {_type_name(value)}")
            return []
        out: list[SecuritySpec] = []
        for symbol, raw in value.items():
            path = _child("securities", str(symbol))
            if not isinstance(symbol, str) or (
                not SYMBOL_RE.fullmatch(symbol) and parse_occ(symbol) is None
            ):
                self.add(path, f"{symbol!r} is not a ticker (A-Z, 0-9, '.', '-') or an O: ticker")
            spec = self.object_(raw, path, SECURITY_KEYS)
            if spec is None:
                continue
            asset_type = spec.get("asset_type")
            if asset_type is None:
                asset_type = "stock"
            elif asset_type not in ASSET_TYPES:
                self.add(
                    _child(path, "asset_type"),
                    f"must be one of {', '.join(ASSET_TYPES)}, got {_show(asset_type)}",
                )
            market_cap: Decimal | None = None
            if spec.get("market_cap") is not None:
                market_cap = self.number(
                    spec["market_cap"],
                    _child(path, "market_cap"),
                    "a number >= 0 or null",
                    lambda d: d >= 0,
                )
            out.append(
                SecuritySpec(
                    symbol=str(symbol),
                    asset_type=str(asset_type),
                    name=self.optional_string(spec.get("name", _ABSENT), _child(path, "name")),
                    sector=self.optional_string(
                        spec.get("sector", _ABSENT), _child(path, "sector"), 100
                    ),
                    industry=self.optional_string(
                        spec.get("industry", _ABSENT), _child(path, "industry"), 100
                    ),
                    market_cap=None if market_cap is None else float(market_cap),
                    currency=self.currency(spec.get("currency", _ABSENT), _child(path, "currency"))
                    or "USD",
                )
            )
        return out

    def portfolios(self, value: object) -> list[PortfolioSpec]:
        if value is _ABSENT:
            self.add("portfolios", "is required")
            return []
        if not isinstance(value, list) or not value:
            self.add("portfolios", f"must be a non-empty list, got {_show(value)}")
            return []
        out: list[PortfolioSpec] = []
        first_index: dict[str, int] = {}
        for index, raw in enumerate(value):
            path = _child("portfolios", index)
            spec = self.portfolio(raw, path)
            if spec is None:
                continue
            if spec.external_id in first_index:
                self.add(
                    _child(path, "id"),
                    f"duplicate portfolio id {spec.external_id!r} "
                    f"(first at portfolios[{first_index[spec.external_id]}])",
                )
                continue
            first_index[spec.external_id] = index
            out.append(spec)
        return out

    def portfolio(self, raw: object, path: str) -> PortfolioSpec | None:
        spec = self.object_(raw, path, PORTFOLIO_KEYS)
        if spec is None:
            return None
        external_id = self.string(
            spec.get("id", _ABSENT),
            _child(path, "id"),
            "1-64 characters of A-Z a-z 0-9 _ . -",
            PORTFOLIO_ID_RE,
        )
        name = self.string(spec.get("name", _ABSENT), _child(path, "name"))
        owner = self.string(
            spec.get("owner", _ABSENT), _child(path, "owner"), "an email address", EMAIL_RE
        )
        cash = Decimal(0)
        if spec.get("cash") is not None:
            checked_cash = self.number(
                spec["cash"], _child(path, "cash"), "a finite number", stored=True
            )
            cash = cash if checked_cash is None else checked_cash
        currency = self.currency(spec.get("base_currency", _ABSENT), _child(path, "base_currency"))
        positions = self.positions(spec.get("positions", _ABSENT), _child(path, "positions"))
        limits = self.limits(spec.get("limits"), _child(path, "limits"))
        if external_id is None:
            return None
        # Returned even when other fields are bad, so that a duplicate id is reported too.
        return PortfolioSpec(
            external_id=external_id,
            name=name or "",
            owner_email=owner or "",
            cash=cash,
            positions=tuple(positions),
            base_currency=currency or "USD",
            limits=limits,
        )

    def positions(self, value: object, path: str) -> list[PositionSpec]:
        if value is _ABSENT:
            self.add(path, "is required (use [] for a cash-only portfolio)")
            return []
        if not isinstance(value, list):
            self.add(path, f"must be a list, got {_type_name(value)}")
            return []
        out: list[PositionSpec] = []
        first_index: dict[str, int] = {}
        for index, raw in enumerate(value):
            position_path = _child(path, index)
            spec = self.position(raw, position_path)
            if spec is None:
                continue
            if spec.symbol in first_index:
                self.add(
                    _child(position_path, "symbol"),
                    f"duplicate symbol {spec.symbol!r} in this portfolio "
                    f"(first at positions[{first_index[spec.symbol]}])",
                )
                continue
            first_index[spec.symbol] = index
            out.append(spec)
        return out

    def position(self, raw: object, path: str) -> PositionSpec | None:
        spec = self.object_(raw, path, POSITION_KEYS)
        if spec is None:
            return None
        symbol_path = _child(path, "symbol")
        symbol = spec.get("symbol", _ABSENT)
        occ = None
        if isinstance(symbol, str) and symbol.startswith("O:"):
            occ = parse_occ(symbol)
            if occ is None:
                self.add(
                    symbol_path,
                    f"{symbol!r} is not an OCC option ticker (O:<ROOT><YYMMDD><C|P><strike x 1000, 8 digits>)",
                )
        elif symbol is _ABSENT:
            self.add(symbol_path, "is required")
        elif not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
            self.add(
                symbol_path,
                "must be a ticker of 1-32 characters A-Z 0-9 . - or an O: option ticker, "
                f"got {_show(symbol)}",
            )
        is_option_symbol = isinstance(symbol, str) and symbol.startswith("O:")

        quantity = self.number(
            spec.get("quantity", _ABSENT),
            _child(path, "quantity"),
            "a non-zero number",
            lambda d: d != 0,
            stored=True,
        )
        entry_price: Decimal | None = None
        if spec.get("entry_price") is not None:
            entry_price = self.number(
                spec["entry_price"],
                _child(path, "entry_price"),
                "a number > 0",
                lambda d: d > 0,
                stored=True,
            )
        entry_date: dt.date | None = None
        if spec.get("entry_date") is not None:
            entry_date = self.date(spec["entry_date"], _child(path, "entry_date"))

        option: OptionSpec | None = None
        raw_option = spec.get("option")
        option_path = _child(path, "option")
        if raw_option is None:
            if is_option_symbol:
                self.add(option_path, f"is required for the option ticker {symbol!r}")
        else:
            if not is_option_symbol and isinstance(symbol, str) and SYMBOL_RE.fullmatch(symbol):
                self.add(
                    option_path,
                    f"is only allowed with an O: option ticker, but the symbol is {symbol!r}",
                )
            option = self.option(raw_option, option_path)
            if option is not None and occ is not None:
                self.match_occ(option, occ, str(symbol), option_path)
        if is_option_symbol and quantity is not None and quantity != quantity.to_integral_value():
            self.add(
                _child(path, "quantity"),
                f"must be a whole number of contracts for an option, got {_show(spec['quantity'])}",
            )
            quantity = None
        if not isinstance(symbol, str) or quantity is None:
            return None
        return PositionSpec(
            symbol=symbol,
            quantity=quantity,
            option=option,
            entry_price=entry_price,
            entry_date=entry_date,
        )

    def option(self, raw: object, path: str) -> OptionSpec | None:
        spec = self.object_(raw, path, OPTION_KEYS)
        if spec is None:
            return None
        underlying = self.string(
            spec.get("underlying", _ABSENT),
            _child(path, "underlying"),
            "a ticker of 1-32 characters A-Z 0-9 . -",
            SYMBOL_RE,
            32,
        )
        right = spec.get("type", _ABSENT)
        if right is _ABSENT:
            self.add(_child(path, "type"), "is required ('call' or 'put')")
        elif right not in ("call", "put"):
            self.add(_child(path, "type"), f"must be 'call' or 'put', got {_show(right)}")
        strike = self.number(
            spec.get("strike", _ABSENT),
            _child(path, "strike"),
            "a number > 0",
            lambda d: d > 0,
            stored=True,
        )
        expiry = self.date(spec.get("expiry", _ABSENT), _child(path, "expiry"))
        if expiry is not None and expiry < self.cutoff:
            self.add(
                _child(path, "expiry"),
                f"the option expired on {expiry}, before {self.cutoff_label} {self.cutoff}",
            )
            expiry = None
        multiplier = 100
        raw_multiplier = spec.get("multiplier")
        if raw_multiplier is not None:
            if (
                isinstance(raw_multiplier, bool)
                or not isinstance(raw_multiplier, int)
                or not 0 < raw_multiplier <= MAX_MULTIPLIER
            ):
                self.add(
                    _child(path, "multiplier"),
                    f"must be a positive integer up to {MAX_MULTIPLIER:,}, "
                    f"got {_show(raw_multiplier)}",
                )
            else:
                multiplier = raw_multiplier
        implied_vol = self.optional_float(
            spec.get("implied_vol"),
            _child(path, "implied_vol"),
            "a number in (0, 5]",
            lambda d: 0 < d <= 5,
        )
        dividend_yield = self.optional_float(
            spec.get("dividend_yield"),
            _child(path, "dividend_yield"),
            "a number in [0, 1)",
            lambda d: 0 <= d < 1,
        )
        if underlying is None or strike is None or expiry is None or right not in ("call", "put"):
            return None
        checked_right: OptionRight = "call" if right == "call" else "put"
        return OptionSpec(
            underlying=underlying,
            right=checked_right,
            strike=strike,
            expiry=expiry,
            multiplier=multiplier,
            implied_vol=implied_vol,
            dividend_yield=dividend_yield,
        )

    def optional_float(
        self, value: object, path: str, requirement: str, ok: Callable[[Decimal], bool]
    ) -> float | None:
        if value is None:
            return None
        number = self.number(value, path, requirement, ok)
        return None if number is None else float(number)

    def match_occ(self, option: OptionSpec, occ: OccParts, symbol: str, path: str) -> None:
        pairs: tuple[tuple[str, object, object], ...] = (
            ("underlying", option.underlying, occ.underlying),
            ("expiry", option.expiry, occ.expiry),
            ("type", option.right, occ.right),
            ("strike", option.strike, occ.strike),
        )
        for key, given, encoded in pairs:
            if given != encoded:
                self.add(
                    _child(path, key),
                    f"{_fmt(given)} does not match the ticker {symbol}, which encodes {_fmt(encoded)}",
                )

    def scenarios(self, value: object, factors: dict[str, str] | None) -> list[ScenarioSpec]:
        if value is None:
            return []
        if not isinstance(value, dict):
            self.add(
                "stress_scenarios",
                f"must be an object name -> {{factor: shock}}, got {_type_name(value)}",
            )
            return []
        out: list[ScenarioSpec] = []
        for name, raw in value.items():
            path = _child("stress_scenarios", str(name))
            if not isinstance(name, str) or not name.strip() or len(name) > 64:
                self.add(path, f"scenario name must be 1-64 characters, got {_show(name)}")
            if not isinstance(raw, dict):
                self.add(path, f"must be an object factor -> shock, got {_type_name(raw)}")
                continue
            shocks: dict[str, float] = {}
            rate_shock_pp = 0.0
            ok = True
            for factor, shock in raw.items():
                shock_path = _child(path, str(factor))
                if factor == RATE_SERIES:
                    pp = self.number(
                        shock,
                        shock_path,
                        "a change in percentage points within ±100",
                        lambda d: abs(d) <= 100,
                    )
                    if pp is None:
                        ok = False
                    else:
                        rate_shock_pp = float(pp)
                    continue
                if factors is not None and factor not in factors:
                    self.add(
                        shock_path,
                        f"unknown factor {factor!r} in scenario {name!r} "
                        f"(factors: {', '.join(factors)}; {RATE_SERIES} for a rate move in pp)",
                    )
                    ok = False
                    continue
                number = self.number(
                    shock,
                    shock_path,
                    "a simple return in (-1, 10]",
                    lambda d: -1 < d <= 10,
                )
                if number is None:
                    ok = False
                else:
                    shocks[factor] = float(number)
            if factors is not None:
                missing = [factor for factor in factors if factor not in raw]
                if missing:
                    self.add(
                        path,
                        f"scenario {name!r} has no shock for factor(s) {', '.join(missing)} "
                        "(every factor must be given; a missing one is not taken as 0)",
                    )
                    ok = False
                shocks = {factor: shocks[factor] for factor in factors if factor in shocks}
            if ok:
                out.append(
                    ScenarioSpec(
                        name=str(name),
                        category="custom",
                        shocks=shocks,
                        rate_shock_pp=rate_shock_pp,
                    )
                )
        return out


def _fmt(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _unstorable_text(data: object) -> list[str]:
    """Paths of strings (keys included) PostgreSQL text cannot hold: NUL, lone surrogates."""

    def bad(text: str) -> str | None:
        if "\x00" in text:
            return "contains a NUL character"
        if any("\ud800" <= char <= "\udfff" for char in text):
            return "contains a lone surrogate (not valid Unicode)"
        return None

    found: list[str] = []
    stack: list[tuple[str, object]] = [("", data)]
    while stack and len(found) < 20:
        path, value = stack.pop()
        if isinstance(value, str):
            reason = bad(value)
            if reason:
                found.append(f"{path or '(top level)'}: {reason}")
        elif isinstance(value, dict):
            for key, item in value.items():
                reason = bad(str(key))
                if reason:
                    found.append(f"{path or '(top level)'}: a key {reason}")
                    continue
                stack.append((_child(path, str(key)), item))
        elif isinstance(value, list):
            stack.extend((_child(path, i), item) for i, item in enumerate(value))
    return sorted(found)


def parse_bundle(data: object, *, source: str, today: dt.date) -> Bundle:
    """Validate a decoded portfolio bundle completely; raise one InputError listing the problems."""
    unstorable = _unstorable_text(data)
    if unstorable:
        raise InputError("\n".join(f"{source} {problem}" for problem in unstorable))
    validator = _Validator(source, today)
    bundle = validator.bundle(data)
    validator.raise_if_any()
    if bundle is None:  # pragma: no cover - every None path records a problem
        raise InputError(f"{source}: invalid portfolio bundle")
    return bundle

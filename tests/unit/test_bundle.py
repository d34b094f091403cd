"""Portfolio bundle JSON (FORMATS.md section 4): the valid example and every rejection rule."""

import copy
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest

from models.portfolio import PositionType
from sigmasight.domain import DEFAULT_FACTORS, InputError, OptionSpec, ScenarioSpec, SecuritySpec
from sigmasight.importers.bundle import parse_bundle

TODAY = dt.date(2025, 6, 2)
SOURCE = "portfolios.json"
OPTION = "O:SPY251219C00600000"

#: The example of FORMATS.md section 4, verbatim.
EXAMPLE: dict[str, Any] = {
    "valuation_date": "2025-01-02",
    "risk_free_rate": 0.043,
    "benchmark": "SPY",
    "factor_etfs": {
        "SPY": "Market",
        "VTV": "Value",
        "VUG": "Growth",
        "MTUM": "Momentum",
        "QUAL": "Quality",
        "IWM": "Size",
        "USMV": "LowVol",
    },
    "securities": {
        "AAPL": {
            "asset_type": "stock",
            "sector": "Technology",
            "industry": "Consumer Electronics",
            "market_cap": 3.67e12,
        }
    },
    "portfolios": [
        {
            "id": "LO_CORE",
            "name": "Core long-only",
            "owner": "demo@example.com",
            "cash": 42000.0,
            "positions": [
                {"symbol": "AAPL", "quantity": 3000},
                {
                    "symbol": OPTION,
                    "quantity": 20,
                    "option": {
                        "underlying": "SPY",
                        "type": "call",
                        "strike": 600.0,
                        "expiry": "2025-12-19",
                        "multiplier": 100,
                        "implied_vol": 0.165,
                        "dividend_yield": 0.0125,
                    },
                },
            ],
        }
    ],
    "stress_scenarios": {
        "equity_crash": {
            "SPY": -0.10,
            "VTV": -0.09,
            "VUG": -0.12,
            "MTUM": -0.11,
            "QUAL": -0.09,
            "IWM": -0.13,
            "USMV": -0.07,
        }
    },
}

DELETE = object()
Path = tuple[str | int, ...]


def parse(data: object) -> Any:
    return parse_bundle(data, source=SOURCE, today=TODAY)


def example(*changes: tuple[Path, object]) -> dict[str, Any]:
    """A deep copy of EXAMPLE with each (path, value) set (appended one past a list's end)."""
    data = copy.deepcopy(EXAMPLE)
    for path, value in changes:
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        elif isinstance(parent, list) and path[-1] == len(parent):
            parent.append(copy.deepcopy(value))
        else:
            parent[path[-1]] = copy.deepcopy(value)
    return data


def rejection(data: object) -> str:
    with pytest.raises(InputError) as info:
        parse(data)
    return str(info.value)


P0: Path = ("portfolios", 0)
STOCK: Path = (*P0, "positions", 0)
OPT: Path = (*P0, "positions", 1)
OPT_SPEC: Path = (*OPT, "option")
CRASH: Path = ("stress_scenarios", "equity_crash")


def test_formats_example_parses() -> None:
    bundle = parse(EXAMPLE)
    assert bundle.valuation_date == dt.date(2025, 1, 2)
    assert bundle.risk_free_rate == pytest.approx(0.043)
    assert bundle.benchmark == "SPY"
    assert bundle.factors == DEFAULT_FACTORS
    assert bundle.securities == (
        SecuritySpec(
            symbol="AAPL",
            asset_type="stock",
            sector="Technology",
            industry="Consumer Electronics",
            market_cap=3.67e12,
            currency="USD",
        ),
    )
    (portfolio,) = bundle.portfolios
    assert portfolio.external_id == "LO_CORE"
    assert portfolio.name == "Core long-only"
    assert portfolio.owner_email == "demo@example.com"
    assert portfolio.cash == Decimal("42000")
    assert portfolio.base_currency == "USD"
    stock, option = portfolio.positions
    assert stock.symbol == "AAPL"
    assert isinstance(stock.quantity, Decimal)
    assert stock.quantity == Decimal(3000)
    assert stock.option is None
    assert stock.position_type is PositionType.LONG
    assert option.symbol == OPTION
    assert option.quantity == Decimal(20)
    assert option.position_type is PositionType.LC
    assert option.option == OptionSpec(
        underlying="SPY",
        right="call",
        strike=Decimal("600"),
        expiry=dt.date(2025, 12, 19),
        multiplier=100,
        implied_vol=0.165,
        dividend_yield=0.0125,
    )
    assert bundle.scenarios == (
        ScenarioSpec(
            name="equity_crash",
            category="custom",
            shocks={
                "SPY": -0.10,
                "VTV": -0.09,
                "VUG": -0.12,
                "MTUM": -0.11,
                "QUAL": -0.09,
                "IWM": -0.13,
                "USMV": -0.07,
            },
            rate_shock_pp=0.0,
        ),
    )
    assert list(bundle.scenarios[0].shocks) == list(DEFAULT_FACTORS)


def test_minimal_bundle_gets_defaults() -> None:
    bundle = parse(
        {"portfolios": [{"id": "A", "name": "Cash only", "owner": "a@b.co", "positions": []}]}
    )
    assert bundle.valuation_date is None
    assert bundle.risk_free_rate is None
    assert bundle.benchmark == "SPY"
    assert bundle.factors == DEFAULT_FACTORS
    assert bundle.securities == ()
    assert bundle.scenarios == ()
    (portfolio,) = bundle.portfolios
    assert portfolio.cash == Decimal(0)
    assert portfolio.base_currency == "USD"
    assert portfolio.positions == ()


def test_null_optional_keys_count_as_absent() -> None:
    data = example(
        (("valuation_date",), None),
        (("risk_free_rate",), None),
        (("benchmark",), None),
        (("factor_etfs",), None),
        (("stress_scenarios",), None),
        ((*P0, "cash"), None),
        ((*OPT_SPEC, "multiplier"), None),
        ((*OPT_SPEC, "implied_vol"), None),
        ((*OPT_SPEC, "dividend_yield"), None),
        (("securities", "AAPL", "market_cap"), None),
        (("securities", "AAPL", "sector"), None),
    )
    bundle = parse(data)
    assert bundle.securities == (
        SecuritySpec(symbol="AAPL", industry="Consumer Electronics", market_cap=None),
    )
    assert parse(example((("securities",), None))).securities == ()
    assert bundle.valuation_date is None
    assert bundle.portfolios[0].cash == Decimal(0)
    option = bundle.portfolios[0].positions[1].option
    assert option is not None
    assert option.multiplier == 100
    assert option.implied_vol is None
    assert option.dividend_yield is None


@pytest.mark.parametrize(
    ("symbol", "right", "quantity", "expected"),
    [
        ("AAPL", None, 3000, PositionType.LONG),
        ("AAPL", None, -150.5, PositionType.SHORT),
        ("O:SPY251219C00600000", "call", 20, PositionType.LC),
        ("O:SPY251219C00600000", "call", -20, PositionType.SC),
        ("O:SPY251219P00600000", "put", 5, PositionType.LP),
        ("O:SPY251219P00600000", "put", -5, PositionType.SP),
    ],
)
def test_position_types(
    symbol: str, right: str | None, quantity: float, expected: PositionType
) -> None:
    position: dict[str, Any] = {"symbol": symbol, "quantity": quantity}
    if right is not None:
        position["option"] = {
            "underlying": "SPY",
            "type": right,
            "strike": 600,
            "expiry": "2025-12-19",
        }
    bundle = parse(example(((*P0, "positions"), [position])))
    (parsed,) = bundle.portfolios[0].positions
    assert parsed.position_type is expected
    assert parsed.quantity == Decimal(str(quantity))


def test_quantities_are_exact_decimals() -> None:
    bundle = parse(example(((*STOCK, "quantity"), 0.1), ((*P0, "cash"), -1234.56)))
    assert bundle.portfolios[0].positions[0].quantity == Decimal("0.1")
    assert bundle.portfolios[0].cash == Decimal("-1234.56")


def test_custom_factor_set_and_rate_shock() -> None:
    data = example(
        (("factor_etfs",), {"SPY": "Market", "IWM": "Size"}),
        (CRASH, {"SPY": -0.2, "IWM": -0.25, "DGS10": -0.75}),
    )
    bundle = parse(data)
    assert bundle.factors == {"SPY": "Market", "IWM": "Size"}
    (scenario,) = bundle.scenarios
    assert scenario.shocks == {"SPY": -0.2, "IWM": -0.25}
    assert scenario.rate_shock_pp == -0.75
    assert scenario.category == "custom"


def test_option_expiring_on_the_valuation_date_is_accepted() -> None:
    data = example(
        ((*OPT, "symbol"), "O:SPY250102C00600000"),
        ((*OPT_SPEC, "expiry"), "2025-01-02"),
    )
    assert parse(data).portfolios[0].positions[1].option.expiry == dt.date(2025, 1, 2)


def test_single_problem_message_is_file_path_and_reason() -> None:
    message = rejection(example(((*STOCK, "quantity"), 0)))
    assert message == (
        f"{SOURCE}: portfolios[0].positions[0].quantity: must be a non-zero number, got 0"
    )


REJECTIONS: list[tuple[str, object, str]] = [
    # top level
    ("list", [EXAMPLE], "(top level): must be a JSON object, got a list"),
    ("null", None, "(top level): must be a JSON object, got null"),
    ("unknown key", example((("portfolio",), [])), "portfolio: unknown key 'portfolio'"),
    ("no portfolios", example((("portfolios",), DELETE)), "portfolios: is required"),
    ("empty portfolios", example((("portfolios",), [])), "portfolios: must be a non-empty list"),
    ("portfolios object", example((("portfolios",), {})), "portfolios: must be a non-empty list"),
    (
        "valuation_date format",
        example((("valuation_date",), "02/01/2025")),
        'valuation_date: must be an ISO date (YYYY-MM-DD), got "02/01/2025"',
    ),
    (
        "valuation_date impossible",
        example((("valuation_date",), "2025-02-30")),
        "valuation_date: must be an ISO date",
    ),
    (
        "valuation_date number",
        example((("valuation_date",), 20250102)),
        "valuation_date: must be an ISO date",
    ),
    (
        "valuation_date future",
        example((("valuation_date",), "2025-06-03")),
        "valuation_date: 2025-06-03 is in the future (today is 2025-06-02)",
    ),
    (
        "risk_free_rate high",
        example((("risk_free_rate",), 0.51)),
        "risk_free_rate: must be a number in [-0.05, 0.5]",
    ),
    (
        "risk_free_rate low",
        example((("risk_free_rate",), -0.06)),
        "risk_free_rate: must be a number in [-0.05, 0.5]",
    ),
    (
        "risk_free_rate string",
        example((("risk_free_rate",), "0.04")),
        'risk_free_rate: must be a number in [-0.05, 0.5] (annual, continuously compounded), got "0.04"',
    ),
    (
        "risk_free_rate bool",
        example((("risk_free_rate",), False)),
        "risk_free_rate: must be a number in [-0.05, 0.5] (annual, continuously compounded), got false",
    ),
    (
        "risk_free_rate nan",
        example((("risk_free_rate",), math.nan)),
        "risk_free_rate: must be a number in [-0.05, 0.5] (annual, continuously compounded), got NaN",
    ),
    ("benchmark empty", example((("benchmark",), "")), "benchmark: must be a non-empty string"),
    ("benchmark number", example((("benchmark",), 1)), "benchmark: must be a non-empty string"),
    (
        "factor_etfs empty",
        example((("factor_etfs",), {})),
        "factor_etfs: must be a non-empty object",
    ),
    (
        "factor_etfs list",
        example((("factor_etfs",), ["SPY"])),
        "factor_etfs: must be a non-empty object",
    ),
    (
        "factor_etfs bad symbol",
        example((("factor_etfs",), {"spy": "Market"})),
        "factor_etfs.spy: 'spy' is not an ETF symbol",
    ),
    (
        "factor_etfs empty name",
        example((("factor_etfs",), {"SPY": ""})),
        'factor_etfs.SPY: must be a non-empty factor name, got ""',
    ),
    (
        "factor_etfs duplicate name",
        example((("factor_etfs",), {"SPY": "Market", "IVV": "Market"})),
        "factor_etfs.IVV: factor name 'Market' is also used by SPY",
    ),
    (
        "securities not object",
        example((("securities",), ["AAPL"])),
        "securities: must be an object symbol -> security, got a list",
    ),
    (
        "security not object",
        example((("securities", "AAPL"), "stock")),
        "securities.AAPL: must be an object, got a string",
    ),
    (
        "security bad symbol",
        example((("securities", "aapl"), {})),
        "securities.aapl: 'aapl' is not a ticker",
    ),
    (
        "security asset_type",
        example((("securities", "AAPL", "asset_type"), "bond")),
        "securities.AAPL.asset_type: must be one of stock, etf, mutual_fund, option, index, other, "
        'got "bond"',
    ),
    (
        "security market_cap negative",
        example((("securities", "AAPL", "market_cap"), -1)),
        "securities.AAPL.market_cap: must be a number >= 0 or null, got -1",
    ),
    (
        "security market_cap string",
        example((("securities", "AAPL", "market_cap"), "3.67T")),
        'securities.AAPL.market_cap: must be a number >= 0 or null, got "3.67T"',
    ),
    (
        "security currency lower-case",
        example((("securities", "AAPL", "currency"), "usd")),
        'securities.AAPL.currency: must be a 3-letter upper-case currency code, got "usd"',
    ),
    (
        "security currency length",
        example((("securities", "AAPL", "currency"), "USDT")),
        "securities.AAPL.currency: must be a 3-letter upper-case currency code",
    ),
    (
        "security sector empty",
        example((("securities", "AAPL", "sector"), "")),
        "securities.AAPL.sector: must be a non-empty string of at most 100 characters",
    ),
    (
        "security unknown key",
        example((("securities", "AAPL", "ticker"), "AAPL")),
        "securities.AAPL.ticker: unknown key 'ticker'",
    ),
    (
        "security quoted path",
        example((("securities", "BRK.B"), {"asset_type": "fund"})),
        'securities["BRK.B"].asset_type: must be one of',
    ),
    # portfolio
    (
        "portfolio not object",
        example((P0, "LO_CORE")),
        "portfolios[0]: must be an object, got a string",
    ),
    (
        "portfolio unknown key",
        example(((*P0, "owner_email"), "x@y.z")),
        "portfolios[0].owner_email: unknown key 'owner_email'",
    ),
    ("id missing", example(((*P0, "id"), DELETE)), "portfolios[0].id: is required"),
    (
        "id space",
        example(((*P0, "id"), "LO CORE")),
        'portfolios[0].id: must be 1-64 characters of A-Z a-z 0-9 _ . -, got "LO CORE"',
    ),
    ("id empty", example(((*P0, "id"), "")), "portfolios[0].id: must be 1-64 characters"),
    ("id too long", example(((*P0, "id"), "X" * 65)), "portfolios[0].id: must be 1-64 characters"),
    ("id number", example(((*P0, "id"), 7)), "portfolios[0].id: must be 1-64 characters"),
    ("name missing", example(((*P0, "name"), DELETE)), "portfolios[0].name: is required"),
    ("name empty", example(((*P0, "name"), " ")), "portfolios[0].name: must be a non-empty string"),
    ("owner missing", example(((*P0, "owner"), DELETE)), "portfolios[0].owner: is required"),
    (
        "owner not email",
        example(((*P0, "owner"), "demo")),
        'portfolios[0].owner: must be an email address, got "demo"',
    ),
    (
        "owner no domain dot",
        example(((*P0, "owner"), "demo@example")),
        "portfolios[0].owner: must be an email address",
    ),
    (
        "cash string",
        example(((*P0, "cash"), "42000")),
        "portfolios[0].cash: must be a finite number",
    ),
    (
        "cash bool",
        example(((*P0, "cash"), True)),
        "portfolios[0].cash: must be a finite number, got true",
    ),
    (
        "cash infinite",
        example(((*P0, "cash"), math.inf)),
        "portfolios[0].cash: must be a finite number, got Infinity",
    ),
    (
        "base_currency",
        example(((*P0, "base_currency"), "us$")),
        "portfolios[0].base_currency: must be a 3-letter upper-case currency code",
    ),
    (
        "positions missing",
        example(((*P0, "positions"), DELETE)),
        "portfolios[0].positions: is required",
    ),
    (
        "positions object",
        example(((*P0, "positions"), {})),
        "portfolios[0].positions: must be a list, got an object",
    ),
    (
        "duplicate portfolio id",
        example((("portfolios", 1), EXAMPLE["portfolios"][0])),
        "portfolios[1].id: duplicate portfolio id 'LO_CORE' (first at portfolios[0])",
    ),
    (
        "duplicate symbol",
        example(((*P0, "positions", 2), {"symbol": "AAPL", "quantity": -5})),
        "portfolios[0].positions[2].symbol: duplicate symbol 'AAPL' in this portfolio "
        "(first at positions[0])",
    ),
    # position
    (
        "position not object",
        example((STOCK, "AAPL")),
        "portfolios[0].positions[0]: must be an object",
    ),
    (
        "position unknown key",
        example(((*STOCK, "qty"), 1)),
        "portfolios[0].positions[0].qty: unknown key 'qty'",
    ),
    ("symbol missing", example(((*STOCK, "symbol"), DELETE)), "positions[0].symbol: is required"),
    (
        "symbol lower-case",
        example(((*STOCK, "symbol"), "aapl")),
        "portfolios[0].positions[0].symbol: must be a ticker of 1-32 characters A-Z 0-9 . - "
        'or an O: option ticker, got "aapl"',
    ),
    (
        "symbol space",
        example(((*STOCK, "symbol"), "AAPL US")),
        "positions[0].symbol: must be a ticker",
    ),
    (
        "symbol too long",
        example(((*STOCK, "symbol"), "A" * 33)),
        "positions[0].symbol: must be a ticker",
    ),
    ("symbol empty", example(((*STOCK, "symbol"), "")), "positions[0].symbol: must be a ticker"),
    ("symbol number", example(((*STOCK, "symbol"), 5)), "positions[0].symbol: must be a ticker"),
    (
        "symbol not OCC",
        example(((*OPT, "symbol"), "O:SPY251219C600")),
        "portfolios[0].positions[1].symbol: 'O:SPY251219C600' is not an OCC option ticker",
    ),
    (
        "quantity missing",
        example(((*STOCK, "quantity"), DELETE)),
        "positions[0].quantity: is required",
    ),
    (
        "quantity zero float",
        example(((*STOCK, "quantity"), 0.0)),
        "portfolios[0].positions[0].quantity: must be a non-zero number, got 0.0",
    ),
    (
        "quantity bool",
        example(((*STOCK, "quantity"), True)),
        "portfolios[0].positions[0].quantity: must be a non-zero number, got true",
    ),
    (
        "quantity string",
        example(((*STOCK, "quantity"), "3000")),
        'portfolios[0].positions[0].quantity: must be a non-zero number, got "3000"',
    ),
    (
        "quantity null",
        example(((*STOCK, "quantity"), None)),
        "portfolios[0].positions[0].quantity: must be a non-zero number, got null",
    ),
    (
        "quantity nan",
        example(((*STOCK, "quantity"), math.nan)),
        "portfolios[0].positions[0].quantity: must be a non-zero number, got NaN",
    ),
    (
        "quantity -inf",
        example(((*STOCK, "quantity"), -math.inf)),
        "portfolios[0].positions[0].quantity: must be a non-zero number, got -Infinity",
    ),
    (
        "quantity too large",
        example(((*STOCK, "quantity"), 1e15)),
        "portfolios[0].positions[0].quantity: 1000000000000000.0 is too large "
        "(magnitude must be below 1e12)",
    ),
    (
        "option quantity fractional",
        example(((*OPT, "quantity"), 2.5)),
        "portfolios[0].positions[1].quantity: must be a whole number of contracts for an option",
    ),
    (
        "entry_price zero",
        example(((*STOCK, "entry_price"), 0)),
        "portfolios[0].positions[0].entry_price: must be a number > 0, got 0",
    ),
    (
        "entry_price string",
        example(((*STOCK, "entry_price"), "150")),
        "portfolios[0].positions[0].entry_price: must be a number > 0",
    ),
    (
        "entry_date",
        example(((*STOCK, "entry_date"), "2024-1-5")),
        "portfolios[0].positions[0].entry_date: must be an ISO date",
    ),
    (
        "O: symbol without option",
        example((OPT_SPEC, DELETE)),
        "portfolios[0].positions[1].option: is required for the option ticker "
        "'O:SPY251219C00600000'",
    ),
    (
        "option with stock symbol",
        example(((*STOCK, "option"), EXAMPLE["portfolios"][0]["positions"][1]["option"])),
        "portfolios[0].positions[0].option: is only allowed with an O: option ticker, "
        "but the symbol is 'AAPL'",
    ),
    # option object
    ("option not object", example((OPT_SPEC, "call")), "positions[1].option: must be an object"),
    (
        "option unknown key",
        example(((*OPT_SPEC, "iv"), 0.2)),
        "positions[1].option.iv: unknown key 'iv'",
    ),
    (
        "underlying missing",
        example(((*OPT_SPEC, "underlying"), DELETE)),
        "positions[1].option.underlying: is required",
    ),
    (
        "underlying lower-case",
        example(((*OPT_SPEC, "underlying"), "spy")),
        'positions[1].option.underlying: must be a ticker of 1-32 characters A-Z 0-9 . -, got "spy"',
    ),
    (
        "type missing",
        example(((*OPT_SPEC, "type"), DELETE)),
        "positions[1].option.type: is required",
    ),
    (
        "type upper-case",
        example(((*OPT_SPEC, "type"), "CALL")),
        "positions[1].option.type: must be 'call' or 'put', got \"CALL\"",
    ),
    ("strike missing", example(((*OPT_SPEC, "strike"), DELETE)), "option.strike: is required"),
    (
        "strike zero",
        example(((*OPT_SPEC, "strike"), 0)),
        "positions[1].option.strike: must be a number > 0, got 0",
    ),
    (
        "strike string",
        example(((*OPT_SPEC, "strike"), "600")),
        'positions[1].option.strike: must be a number > 0, got "600"',
    ),
    ("expiry missing", example(((*OPT_SPEC, "expiry"), DELETE)), "option.expiry: is required"),
    (
        "expiry format",
        example(((*OPT_SPEC, "expiry"), "2025-12-19T00:00:00")),
        "positions[1].option.expiry: must be an ISO date (YYYY-MM-DD)",
    ),
    (
        "multiplier zero",
        example(((*OPT_SPEC, "multiplier"), 0)),
        "positions[1].option.multiplier: must be a positive integer up to 1,000,000, got 0",
    ),
    (
        "multiplier float",
        example(((*OPT_SPEC, "multiplier"), 100.0)),
        "positions[1].option.multiplier: must be a positive integer up to 1,000,000, got 100.0",
    ),
    (
        "multiplier bool",
        example(((*OPT_SPEC, "multiplier"), True)),
        "positions[1].option.multiplier: must be a positive integer up to 1,000,000, got true",
    ),
    (
        "implied_vol zero",
        example(((*OPT_SPEC, "implied_vol"), 0)),
        "positions[1].option.implied_vol: must be a number in (0, 5], got 0",
    ),
    (
        "implied_vol percent",
        example(((*OPT_SPEC, "implied_vol"), 16.5)),
        "positions[1].option.implied_vol: must be a number in (0, 5], got 16.5",
    ),
    (
        "dividend_yield one",
        example(((*OPT_SPEC, "dividend_yield"), 1)),
        "positions[1].option.dividend_yield: must be a number in [0, 1), got 1",
    ),
    (
        "dividend_yield negative",
        example(((*OPT_SPEC, "dividend_yield"), -0.01)),
        "positions[1].option.dividend_yield: must be a number in [0, 1), got -0.01",
    ),
    (
        "OCC underlying mismatch",
        example(((*OPT_SPEC, "underlying"), "QQQ")),
        "positions[1].option.underlying: 'QQQ' does not match the ticker O:SPY251219C00600000, "
        "which encodes 'SPY'",
    ),
    (
        "OCC expiry mismatch",
        example(((*OPT_SPEC, "expiry"), "2025-12-20")),
        "positions[1].option.expiry: 2025-12-20 does not match the ticker O:SPY251219C00600000, "
        "which encodes 2025-12-19",
    ),
    (
        "OCC right mismatch",
        example(((*OPT_SPEC, "type"), "put")),
        "positions[1].option.type: 'put' does not match the ticker O:SPY251219C00600000, "
        "which encodes 'call'",
    ),
    (
        "OCC strike mismatch",
        example(((*OPT_SPEC, "strike"), 600.5)),
        "positions[1].option.strike: 600.5 does not match the ticker O:SPY251219C00600000, "
        "which encodes 600",
    ),
    (
        "expired before valuation_date",
        example(((*OPT, "symbol"), "O:SPY241220C00600000"), ((*OPT_SPEC, "expiry"), "2024-12-20")),
        "portfolios[0].positions[1].option.expiry: the option expired on 2024-12-20, "
        "before valuation_date 2025-01-02",
    ),
    (
        "expired before today",
        example(
            (("valuation_date",), DELETE),
            ((*OPT, "symbol"), "O:SPY250530C00600000"),
            ((*OPT_SPEC, "expiry"), "2025-05-30"),
        ),
        "portfolios[0].positions[1].option.expiry: the option expired on 2025-05-30, "
        "before today 2025-06-02",
    ),
    # stress scenarios
    (
        "stress_scenarios list",
        example((("stress_scenarios",), [])),
        "stress_scenarios: must be an object name -> {factor: shock}, got a list",
    ),
    (
        "scenario not object",
        example((CRASH, -0.1)),
        "stress_scenarios.equity_crash: must be an object factor -> shock, got a number",
    ),
    (
        "scenario name too long",
        example((("stress_scenarios", "x" * 65), EXAMPLE["stress_scenarios"]["equity_crash"])),
        "scenario name must be 1-64 characters",
    ),
    (
        "scenario missing factor",
        example(((*CRASH, "MTUM"), DELETE)),
        "stress_scenarios.equity_crash: scenario 'equity_crash' has no shock for factor(s) MTUM "
        "(every factor must be given; a missing one is not taken as 0)",
    ),
    (
        "scenario missing several factors",
        example((CRASH, {"SPY": -0.1})),
        "scenario 'equity_crash' has no shock for factor(s) VTV, VUG, MTUM, QUAL, IWM, USMV",
    ),
    (
        "scenario unknown factor",
        example(((*CRASH, "XLF"), -0.2)),
        "stress_scenarios.equity_crash.XLF: unknown factor 'XLF' in scenario 'equity_crash'",
    ),
    (
        "scenario factor outside a custom set",
        example((("factor_etfs",), {"SPY": "Market"})),
        "stress_scenarios.equity_crash.VTV: unknown factor 'VTV'",
    ),
    (
        "shock minus one",
        example(((*CRASH, "SPY"), -1)),
        "stress_scenarios.equity_crash.SPY: must be a simple return in (-1, 10], got -1",
    ),
    (
        "shock below minus one",
        example(((*CRASH, "IWM"), -1.5)),
        "stress_scenarios.equity_crash.IWM: must be a simple return in (-1, 10], got -1.5",
    ),
    (
        "shock string",
        example(((*CRASH, "SPY"), "-10%")),
        'stress_scenarios.equity_crash.SPY: must be a simple return in (-1, 10], got "-10%"',
    ),
    (
        "shock bool",
        example(((*CRASH, "SPY"), False)),
        "stress_scenarios.equity_crash.SPY: must be a simple return in (-1, 10], got false",
    ),
    (
        "shock nan",
        example(((*CRASH, "SPY"), math.nan)),
        "stress_scenarios.equity_crash.SPY: must be a simple return in (-1, 10], got NaN",
    ),
    (
        "rate shock string",
        example(((*CRASH, "DGS10"), "+1")),
        'stress_scenarios.equity_crash.DGS10: must be a change in percentage points within ±100, got "+1"',
    ),
    (
        "rate shock infinite",
        example(((*CRASH, "DGS10"), math.inf)),
        "stress_scenarios.equity_crash.DGS10: must be a change in percentage points within ±100",
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(data, expected, id=name) for name, data, expected in REJECTIONS],
)
def test_rejection_names_file_path_and_reason(data: object, expected: str) -> None:
    message = rejection(data)
    assert message.startswith(f"{SOURCE}: ")
    assert expected in message


def test_problems_are_collected_into_one_error() -> None:
    data = example(
        (("valuation_date",), "yesterday"),
        ((*P0, "owner"), "nobody"),
        ((*STOCK, "quantity"), 0),
        ((*CRASH, "SPY"), DELETE),
    )
    assert rejection(data).splitlines() == [
        f'{SOURCE}: valuation_date: must be an ISO date (YYYY-MM-DD), got "yesterday"',
        f'{SOURCE}: portfolios[0].owner: must be an email address, got "nobody"',
        f"{SOURCE}: portfolios[0].positions[0].quantity: must be a non-zero number, got 0",
        f"{SOURCE}: stress_scenarios.equity_crash: scenario 'equity_crash' has no shock for "
        "factor(s) SPY (every factor must be given; a missing one is not taken as 0)",
    ]


def test_at_most_twenty_problems_are_listed() -> None:
    positions = [{"symbol": f"S{index}", "quantity": 0} for index in range(25)]
    lines = rejection(example(((*P0, "positions"), positions))).splitlines()
    assert len(lines) == 21
    assert (
        lines[0]
        == f"{SOURCE}: portfolios[0].positions[0].quantity: must be a non-zero number, got 0"
    )
    assert lines[19].startswith(f"{SOURCE}: portfolios[0].positions[19].quantity: ")
    assert lines[20] == "... and 5 more problems"


def test_a_trailing_newline_is_not_part_of_a_valid_id() -> None:
    data = {"portfolios": [{"id": "LO_CORE\n", "name": "x", "owner": "a@b.co", "positions": []}]}
    with pytest.raises(InputError, match=r"portfolios\[0\]\.id"):
        parse_bundle(data, source="b.json", today=dt.date(2025, 1, 3))

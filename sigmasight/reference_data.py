"""Reference data shared by the demo book and the synthetic provider.

A plausible price level and the security master (asset type, name, sector, industry,
market cap) for every demo symbol and factor ETF. Both :mod:`sigmasight.demo` (which sizes
positions and picks strikes from the prices) and :mod:`sigmasight.providers.synthetic` (which
anchors its generated series at them and serves the profiles) read this module; neither
imports the other for it.
"""

from sigmasight.domain import SecuritySpec

#: Plausible price level per demo symbol and factor ETF; sizes positions and picks strikes.
REFERENCE_PRICES: dict[str, float] = {
    # stocks
    "AAPL": 230.0,
    "MSFT": 480.0,
    "AMZN": 220.0,
    "GOOGL": 190.0,
    "TSLA": 330.0,
    "NVDA": 170.0,
    "JNJ": 160.0,
    "JPM": 280.0,
    "V": 340.0,
    "BRK-B": 480.0,
    "META": 700.0,
    "UNH": 300.0,
    "HD": 390.0,
    "PG": 155.0,
    "AMD": 160.0,
    "NFLX": 1200.0,
    "SHOP": 140.0,
    "ZM": 80.0,
    "PTON": 7.0,
    "ROKU": 90.0,
    "XOM": 110.0,
    "F": 11.0,
    "GE": 250.0,
    "C": 95.0,
    # mutual funds
    "FXNAX": 10.6,
    "FCNTX": 21.0,
    "FMAGX": 15.0,
    "VTIAX": 38.0,
    # ETFs (and ETNs)
    "SPY": 640.0,
    "QQQ": 570.0,
    "IWM": 230.0,
    "VTI": 315.0,
    "BND": 73.0,
    "VNQ": 90.0,
    "GLD": 310.0,
    "DJP": 34.0,
    # factor ETFs not listed above
    "VTV": 180.0,
    "VUG": 450.0,
    "MTUM": 240.0,
    "QUAL": 185.0,
    "USMV": 95.0,
}

_STOCK = "stock"
_ETF = "etf"
_FUND = "mutual_fund"

#: Security master for every demo symbol: (asset_type, name, sector, industry, market_cap).
_SECURITY_ROWS: dict[str, tuple[str, str, str, str, float | None]] = {
    "AAPL": (_STOCK, "Apple Inc.", "Technology", "Consumer Electronics", 3.4e12),
    "MSFT": (_STOCK, "Microsoft Corporation", "Technology", "Software - Infrastructure", 3.6e12),
    "AMZN": (_STOCK, "Amazon.com, Inc.", "Consumer Cyclical", "Internet Retail", 2.3e12),
    "GOOGL": (
        _STOCK,
        "Alphabet Inc. Class A",
        "Communication Services",
        "Internet Content & Information",
        2.3e12,
    ),
    "TSLA": (_STOCK, "Tesla, Inc.", "Consumer Cyclical", "Auto Manufacturers", 1.1e12),
    "NVDA": (_STOCK, "NVIDIA Corporation", "Technology", "Semiconductors", 4.1e12),
    "JNJ": (_STOCK, "Johnson & Johnson", "Healthcare", "Drug Manufacturers - General", 3.9e11),
    "JPM": (
        _STOCK,
        "JPMorgan Chase & Co.",
        "Financial Services",
        "Banks - Diversified",
        7.8e11,
    ),
    "V": (_STOCK, "Visa Inc.", "Financial Services", "Credit Services", 6.6e11),
    "BRK-B": (
        _STOCK,
        "Berkshire Hathaway Inc. Class B",
        "Financial Services",
        "Insurance - Diversified",
        1.04e12,
    ),
    "META": (
        _STOCK,
        "Meta Platforms, Inc.",
        "Communication Services",
        "Internet Content & Information",
        1.76e12,
    ),
    "UNH": (_STOCK, "UnitedHealth Group Incorporated", "Healthcare", "Healthcare Plans", 2.7e11),
    "HD": (
        _STOCK,
        "The Home Depot, Inc.",
        "Consumer Cyclical",
        "Home Improvement Retail",
        3.9e11,
    ),
    "PG": (
        _STOCK,
        "The Procter & Gamble Company",
        "Consumer Defensive",
        "Household & Personal Products",
        3.6e11,
    ),
    "AMD": (_STOCK, "Advanced Micro Devices, Inc.", "Technology", "Semiconductors", 2.6e11),
    "NFLX": (_STOCK, "Netflix, Inc.", "Communication Services", "Entertainment", 5.1e11),
    "SHOP": (_STOCK, "Shopify Inc.", "Technology", "Software - Application", 1.8e11),
    "ZM": (
        _STOCK,
        "Zoom Communications, Inc.",
        "Technology",
        "Software - Application",
        2.4e10,
    ),
    "PTON": (_STOCK, "Peloton Interactive, Inc.", "Consumer Cyclical", "Leisure", 2.8e9),
    "ROKU": (_STOCK, "Roku, Inc.", "Communication Services", "Entertainment", 1.3e10),
    "XOM": (_STOCK, "Exxon Mobil Corporation", "Energy", "Oil & Gas Integrated", 4.7e11),
    "F": (_STOCK, "Ford Motor Company", "Consumer Cyclical", "Auto Manufacturers", 4.4e10),
    "GE": (_STOCK, "GE Aerospace", "Industrials", "Aerospace & Defense", 2.7e11),
    "C": (_STOCK, "Citigroup Inc.", "Financial Services", "Banks - Diversified", 1.8e11),
    "FXNAX": (
        _FUND,
        "Fidelity U.S. Bond Index Fund",
        "Fixed Income",
        "Intermediate Core Bond",
        None,
    ),
    "FCNTX": (_FUND, "Fidelity Contrafund", "Equity", "Large Growth", None),
    "FMAGX": (_FUND, "Fidelity Magellan Fund", "Equity", "Large Growth", None),
    "VTIAX": (
        _FUND,
        "Vanguard Total International Stock Index Fund Admiral Shares",
        "Equity",
        "Foreign Large Blend",
        None,
    ),
    "SPY": (_ETF, "SPDR S&P 500 ETF Trust", "Equity", "Large Blend", None),
    "QQQ": (_ETF, "Invesco QQQ Trust", "Equity", "Large Growth", None),
    "IWM": (_ETF, "iShares Russell 2000 ETF", "Equity", "Small Blend", None),
    "VTI": (_ETF, "Vanguard Total Stock Market ETF", "Equity", "Large Blend", None),
    "BND": (
        _ETF,
        "Vanguard Total Bond Market ETF",
        "Fixed Income",
        "Intermediate Core Bond",
        None,
    ),
    "VNQ": (_ETF, "Vanguard Real Estate ETF", "Real Estate", "Real Estate", None),
    "GLD": (_ETF, "SPDR Gold Shares", "Commodities", "Commodities Focused", None),
    "DJP": (
        _ETF,
        "iPath Bloomberg Commodity Index Total Return ETN",
        "Commodities",
        "Commodities Broad Basket",
        None,
    ),
    "VTV": (_ETF, "Vanguard Value ETF", "Equity", "Large Value", None),
    "VUG": (_ETF, "Vanguard Growth ETF", "Equity", "Large Growth", None),
    "MTUM": (_ETF, "iShares MSCI USA Momentum Factor ETF", "Equity", "Large Growth", None),
    "QUAL": (_ETF, "iShares MSCI USA Quality Factor ETF", "Equity", "Large Blend", None),
    "USMV": (_ETF, "iShares MSCI USA Min Vol Factor ETF", "Equity", "Large Blend", None),
}


def security_master() -> dict[str, SecuritySpec]:
    """Every demo security by symbol (holdings, option underlyings and factor ETFs)."""
    return {
        symbol: SecuritySpec(
            symbol=symbol,
            asset_type=asset_type,
            name=name,
            sector=sector,
            industry=industry,
            market_cap=cap,
        )
        for symbol, (asset_type, name, sector, industry, cap) in _SECURITY_ROWS.items()
    }

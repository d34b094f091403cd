"""Answers to questions about one portfolio, from its stored results only.

With ``OPENAI_API_KEY`` the question goes to an OpenAI-compatible chat model that may call
the tools below, which read the stored risk, factor exposures, stress results, positions,
risk contributions and factor split, the VaR change and P&L attribution, limits, the VaR
backtest and reports (never anything of another portfolio). Without a key, or when the model cannot
be reached, the answer is built deterministically from the same tool outputs and says so.
The API key is handed to the SDK only: it is never logged or returned.
"""

import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from sqlalchemy.orm import Session

from models import Portfolio, PortfolioSnapshot
from sigmasight.api import report_files
from sigmasight.dated_risk import detail_rebuilder
from sigmasight.documents import LimitState, RiskDocument
from sigmasight.reports.explain import STATUS_ORDER, block_warnings
from sigmasight.reports.return_stats import backtest_days
from sigmasight.repositories import api_reads
from sigmasight.repositories import reports as reports_repo
from sigmasight.repositories import results as results_repo
from sigmasight.repositories.documents import stored_document
from sigmasight.settings import Settings

log = logging.getLogger(__name__)

OFFLINE_NOTE = "no language model configured; answer built from the stored figures"
MAX_ROUNDS = 4
MAX_TOOL_CALLS = 12
MAX_REPORT_CHARS = 6000

SYSTEM_PROMPT = """You are SigmaSight's risk analyst. You answer questions about ONE portfolio \
using only the figures the tools return; call them before answering. Conventions: returns are \
fractions (0.012 = 1.2 %); VaR and expected shortfall are positive loss figures for one day; \
betas come from 150-day regressions on factor ETFs; stress P&L is in the portfolio's currency \
(negative = loss). "What drives my risk?": get_risk_contributions (Euler contributions: the \
positions' parametric VaR components sum to the book's parametric VaR, their shares of \
volatility to 1; the factor split into systematic and specific variance). "Why did VaR \
change?": get_risk_change (the day's change of the 95 % historical VaR split into a book effect \
from trades and a market effect from the new prices, and the P&L attribution). Limits and their \
breaches: get_limits; the VaR model's track record: get_backtest. Quote the as-of date. If the \
stored data cannot answer the question, say so plainly; never invent a number. Be concise: a \
few sentences or bullet points."""

TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_risk_summary",
            "description": "Valuation (NAV, exposures, leverage), VaR/ES at 95 % and 99 %, "
            "volatility, beta to SPY, rate sensitivity, performance and data warnings of the "
            "portfolio's snapshot.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_factor_exposures",
            "description": "The portfolio's betas to the factor ETFs (SPY, VTV, VUG, MTUM, QUAL, "
            "IWM, USMV), the dollar exposure each implies, and the regression's R².",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_stress_results",
            "description": "Stress-scenario P&L, worst and best first.",
            "parameters": {
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 1, "maximum": 40},
                    "method": {"type": "string", "enum": ["linear", "full_revaluation"]},
                },
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_positions",
            "description": "The largest positions by absolute exposure with weight, market "
            "value, daily P&L and beta.",
            "parameters": {
                "type": "object",
                "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 100}},
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_risk_contributions",
            "description": "What drives the risk: the positions contributing most to the 95 % "
            "parametric VaR and ES and their share of volatility, the contributions by sector "
            "and by underlying, the systematic/specific split of the variance with each factor's "
            "share, and tracking error, information ratio and active beta to the benchmark.",
            "parameters": {
                "type": "object",
                "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_risk_change",
            "description": "Why the risk and P&L moved since the previous session: the 95 % "
            "historical VaR before and now, split into book effect (trades) and market effect "
            "(new prices); the day's actual P&L split into holding (factor + specific, per "
            "factor) and trading P&L, and the largest position moves.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_limits",
            "description": "Every configured risk limit with the figure, its bound and its state "
            "(new or continuing breach, unknown, resolved, ok), breaches first.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_backtest",
            "description": "The VaR backtest over the last 250 sessions: exceptions at 95 % and "
            "99 %, expected count, Kupiec's test and the Basel zone, with the latest exceptions.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_reports",
            "description": "The portfolio's report files and the text of its latest Markdown "
            "report.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    },
]


@dataclass(frozen=True)
class ToolCall:
    """A tool that was run, with its arguments."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """What the analyze endpoint returns."""

    text: str
    mode: str
    model: str | None
    tool_calls: list[ToolCall]
    note: str | None = None


def _clamp(value: Any, default: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(1, min(high, number))


@dataclass
class Toolbox:
    """The tools' implementations over one portfolio's stored results."""

    session: Session
    portfolio: Portfolio
    snapshot: PortfolioSnapshot | None
    settings: Settings
    calls: list[ToolCall] = field(default_factory=list)
    _document: RiskDocument | None = None

    def run(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run a tool by name; an unknown tool or a failure is an error result, not a crash."""
        tools: dict[str, Callable[..., dict[str, Any]]] = {
            "get_risk_summary": self.risk_summary,
            "get_factor_exposures": self.factor_exposures,
            "get_stress_results": self.stress_results,
            "get_positions": self.positions,
            "get_risk_contributions": self.risk_contributions,
            "get_risk_change": self.risk_change,
            "get_limits": self.limits,
            "get_backtest": self.backtest,
            "get_reports": self.reports,
        }
        self.calls.append(ToolCall(name=name, arguments=arguments))
        tool = tools.get(name)
        if tool is None:
            return {"error": f"unknown tool {name!r}"}
        if self.snapshot is None and name != "get_reports":
            return {"error": "no risk results stored for this portfolio yet"}
        return tool(**arguments)

    @property
    def as_of(self) -> dt.date | None:
        """The snapshot's date."""
        return self.snapshot.as_of_date if self.snapshot else None

    def risk_summary(self, **_: Any) -> dict[str, Any]:
        """Headline figures of the snapshot."""
        assert self.snapshot is not None
        document = self.snapshot.document or {}
        keep = ("valuation", "risk", "beta_spy", "rate_sensitivity", "performance", "warnings")
        return {
            "portfolio_id": self.portfolio.external_id,
            "name": self.portfolio.name,
            "as_of": str(self.snapshot.as_of_date),
            "status": self.snapshot.status,
            "daily_pnl": self.snapshot.daily_pnl,
            "daily_return": self.snapshot.daily_return,
            **{key: document.get(key) for key in keep},
        }

    def factor_exposures(self, **_: Any) -> dict[str, Any]:
        """Portfolio factor betas."""
        assert self.snapshot is not None
        rows = api_reads.portfolio_factor_exposures(
            self.session, self.portfolio.id, self.snapshot.as_of_date
        )
        return {
            "as_of": str(self.snapshot.as_of_date),
            "window_days": rows[0][0].window if rows else None,
            "r2": rows[0][0].r2 if rows else None,
            "factors": [
                {
                    "factor": r.factor_symbol,
                    "name": name,
                    "beta": r.beta,
                    "exposure_usd": r.exposure_usd,
                }
                for r, name in rows
            ],
        }

    def stress_results(self, limit: Any = 5, method: Any = "linear", **_: Any) -> dict[str, Any]:
        """Worst and best scenarios."""
        assert self.snapshot is not None
        n = _clamp(limit, 5, 40)
        rows = [
            r
            for r in results_repo.stress_for(
                self.session, self.portfolio.id, self.snapshot.as_of_date
            )
            if r.method == (method if method in ("linear", "full_revaluation") else "linear")
            and r.pnl is not None
        ]
        rows.sort(key=lambda r: r.pnl if r.pnl is not None else 0.0)

        def entry(r: Any) -> dict[str, Any]:
            return {"scenario": r.scenario, "pnl": r.pnl, "return_impact": r.return_impact}

        return {
            "as_of": str(self.snapshot.as_of_date),
            "method": rows[0].method if rows else method,
            "scenarios": len(rows),
            "worst": [entry(r) for r in rows[:n]],
            "best": [entry(r) for r in reversed(rows[-n:])],
        }

    def positions(self, limit: Any = 10, **_: Any) -> dict[str, Any]:
        """Largest positions by absolute exposure."""
        assert self.snapshot is not None
        rows = api_reads.position_risks(self.session, self.portfolio.id, self.snapshot.as_of_date)
        n = _clamp(limit, 10, 100)
        return {
            "as_of": str(self.snapshot.as_of_date),
            "positions": len(rows),
            "largest": [
                {
                    "symbol": r.symbol,
                    "underlying": r.underlying,
                    "quantity": r.quantity,
                    "market_value": r.market_value,
                    "exposure": r.exposure,
                    "weight": r.weight,
                    "daily_pnl": r.daily_pnl,
                    "beta_spy_150d": r.beta_spy_150d,
                }
                for r in rows[:n]
            ],
        }

    def document(self) -> RiskDocument:
        """The snapshot's full document (read once; position detail rebuilt if pruned)."""
        assert self.snapshot is not None
        if self._document is None:
            self._document = stored_document(
                self.session, self.snapshot, rebuild=detail_rebuilder(self.settings)
            )
        return self._document

    def risk_contributions(self, limit: Any = 10, **_: Any) -> dict[str, Any]:
        """Top contributors, sector and factor split, benchmark-relative figures (C22-C27)."""
        document = self.document()
        n = _clamp(limit, 10, 50)
        block = document.decomposition
        full = document.risk.get("full")
        found: dict[str, Any] = {
            "as_of": str(document.as_of),
            "nav": document.valuation.nav,
            "param_var_95": full.param_var_95.model_dump() if full else None,
            "cvar_95": full.cvar_95.model_dump() if full else None,
            "benchmark": document.benchmark.model_dump() if document.benchmark else None,
            "warnings": block_warnings(document.warnings, "decomposition", "factor", "benchmark"),
        }
        if block is None:
            return found | {"decomposition": None}
        ranked = sorted(
            block.positions,
            key=lambda p: (
                p.param_var_95.currency is None,
                -abs(p.param_var_95.currency or 0.0),
                p.symbol,
            ),
        )
        var_total = full.param_var_95.currency if full else None

        def share(value: float | None) -> float | None:
            return value / var_total if value is not None and var_total else None

        found["positions"] = len(ranked)
        found["top_contributors"] = [
            {
                "symbol": p.symbol,
                "underlying": p.underlying,
                "weight": p.weight,
                "share_of_volatility": p.ctr_share,
                "param_var_95": p.param_var_95.currency,
                "share_of_param_var_95": share(p.param_var_95.currency),
                "es_95": p.cvar_95.currency,
            }
            for p in ranked[:n]
        ]
        found["by_sector"] = [
            {"sector": name, **g.model_dump()}
            for name, g in sorted(
                block.by_sector.items(), key=lambda kv: -abs(kv[1].ctr_share or 0)
            )
        ]
        found["by_underlying"] = [
            {"underlying": name, **g.model_dump()}
            for name, g in sorted(
                block.by_underlying.items(), key=lambda kv: -abs(kv[1].ctr_share or 0)
            )[:n]
        ]
        split = block.factor
        if split is not None and split.total_variance:
            found["factor_split"] = {
                "window_days": split.window,
                "systematic_share": None
                if split.systematic_variance is None
                else split.systematic_variance / split.total_variance,
                "specific_share": None
                if split.specific_variance is None
                else split.specific_variance / split.total_variance,
                "factor_shares": dict(split.contributions),
            }
        else:
            found["factor_split"] = None
        return found

    def risk_change(self, **_: Any) -> dict[str, Any]:
        """The VaR change (book vs market effect) and the day's P&L attribution (C28, C29)."""
        document = self.document()
        full = document.risk.get("full")
        today = full.hist_var_95 if full else None
        change = document.change
        attribution = document.attribution
        found: dict[str, Any] = {
            "as_of": str(document.as_of),
            "hist_var_95_today": today.model_dump() if today else None,
            "var_change": None,
            "actual_pnl": document.history.pnl if document.history else None,
            "attribution": None,
            "warnings": block_warnings(document.warnings, "history", "attribution", "change"),
        }
        if change is not None:
            split = change.hist_var_95
            found["var_change"] = {
                "previous_as_of": str(change.previous_as_of),
                "previous_fraction": split.previous,
                "today_fraction": today.fraction if today else None,
                "book_effect_fraction": split.book_effect,
                "market_effect_fraction": split.market_effect,
            }
        if attribution is not None:
            moves = sorted(
                attribution.positions, key=lambda p: (p.pnl is None, -abs(p.pnl or 0.0), p.symbol)
            )
            found["attribution"] = {
                "holding_pnl": attribution.holding_pnl,
                "factor_pnl": attribution.factor_pnl,
                "specific_pnl": attribution.specific_pnl,
                "trading_pnl": attribution.trading_pnl,
                "by_factor": dict(attribution.by_factor),
                "largest_position_moves": [p.model_dump() for p in moves[:5]],
            }
        return found

    def limits(self, **_: Any) -> dict[str, Any]:
        """The limit states, breaches first (C31)."""
        assert self.snapshot is not None
        raw = (self.snapshot.document or {}).get("limits")
        if raw is None:
            return {"as_of": str(self.snapshot.as_of_date), "limits": None, "breaches": 0}
        states = sorted(
            (LimitState.model_validate(entry) for entry in raw),
            key=lambda s: (STATUS_ORDER.get(s.status, 9), s.limit),
        )
        return {
            "as_of": str(self.snapshot.as_of_date),
            "breaches": sum(1 for s in states if s.in_breach),
            "unknown": sum(1 for s in states if s.status == "unknown"),
            "limits": [s.model_dump(mode="json") for s in states],
        }

    def backtest(self, **_: Any) -> dict[str, Any]:
        """The stored backtest block and the latest exceptions (C30)."""
        assert self.snapshot is not None
        head = self.snapshot.document or {}
        series = reports_repo.load_actual_histories(
            self.session, [self.portfolio.id], self.snapshot.as_of_date
        ).get(self.portfolio.id)
        days = (
            backtest_days(series.dates, series.nav, series.pnl, series.var_95, series.var_99)
            if series is not None
            else []
        )
        exceptions = [d for d in days if d.exception_95]
        return {
            "as_of": str(self.snapshot.as_of_date),
            "backtest": head.get("backtest"),
            "days_with_pnl_and_var": len(days),
            "latest_exceptions": [
                {
                    "as_of": str(d.day),
                    "pnl": d.pnl,
                    "var_95": d.var_95,
                    "beyond_var_99": d.exception_99,
                }
                for d in exceptions[-5:]
            ],
            "warnings": block_warnings(head.get("warnings") or [], "backtest"),
        }

    def reports(self, **_: Any) -> dict[str, Any]:
        """Report files and the latest Markdown report's text."""
        rows, total = api_reads.list_reports(
            self.session, self.portfolio.id, as_of=None, kind=None, limit=20, offset=0
        )
        markdown = None
        for row in rows:
            if row.kind != "md":
                continue
            path = report_files.local_path(row, self.settings)
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                markdown = {
                    "as_of": str(row.as_of_date),
                    "text": text[:MAX_REPORT_CHARS],
                    "truncated": len(text) > MAX_REPORT_CHARS,
                }
            break
        return {
            "reports": total,
            "files": [
                {"as_of": str(r.as_of_date), "kind": r.kind, "file": report_files.filename(r)}
                for r in rows
            ],
            "latest_markdown": markdown,
        }


# ---- the deterministic answer ---------------------------------------------------------------
def _money(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}"


def _pct(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.{digits}f} %"


def _num(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


TOPICS: dict[str, tuple[str, ...]] = {
    # The explaining topics come first: "what drives my VaR?" wants the drivers before the
    # VaR itself, "why did VaR rise?" the change.
    "drivers": ("drive", "driver", "contribut", "come from", "comes from", "source", "sector"),
    "change": (
        "why",
        "change",
        "rise",
        "rose",
        "increase",
        "went up",
        "fell",
        "drop",
        "move",
        "attribut",
        "p&l",
        "pnl",
    ),
    "limits": ("limit", "breach"),
    "backtest": ("backtest", "exception", "kupiec", "basel"),
    "risk": ("var", "risk", "loss", "shortfall", "volatil", "drawdown", "tail", "es "),
    "market": ("beta", "market", "spy", "rate", "duration", "dv01"),
    "factors": ("factor", "style", "value", "growth", "momentum", "quality", "size", "exposure"),
    "stress": ("stress", "scenario", "crash", "shock", "worst", "what if"),
    "positions": ("position", "holding", "concentrat", "largest", "weight", "stock", "option"),
    "reports": ("report",),
}


def _sentence(note: str) -> str:
    return note[:1].upper() + note[1:] + "."


def _signed_pct(value: Any, digits: int = 2) -> str:
    text = _pct(value, digits)
    return text if text == "n/a" or value < 0 else "+" + text


def _signed_money(value: Any) -> str:
    text = _money(value)
    return text if text == "n/a" or value < 0 else "+" + text


def _why(found: dict[str, Any]) -> str:
    warnings = found.get("warnings") or []
    return f" ({warnings[0]})" if warnings else ""


def _drivers_section(found: dict[str, Any]) -> str:
    """Top contributors to VaR and volatility, sectors and the factor split."""
    top = found.get("top_contributors")
    if not top:
        return "Risk drivers: not available" + _why(found) + "."
    var = (found.get("param_var_95") or {}).get("currency")
    parts = [
        f"Risk drivers: of the 95 % parametric VaR {_money(var)}, "
        + ", ".join(
            f"{c['symbol']} {_money(c['param_var_95'])} ({_pct(c['share_of_param_var_95'], 0)}"
            f" of it, {_pct(c['share_of_volatility'], 0)} of volatility)"
            for c in top
        )
    ]
    sectors = found.get("by_sector") or []
    if sectors:
        parts.append(
            "by sector "
            + ", ".join(f"{g['sector']} {_pct(g['ctr_share'], 0)}" for g in sectors[:3])
            + " of volatility"
        )
    split = found.get("factor_split")
    if split:
        shares = sorted(
            ((k, v) for k, v in (split.get("factor_shares") or {}).items() if v is not None),
            key=lambda kv: -abs(kv[1]),
        )
        lead = f", largest {shares[0][0]} {_pct(shares[0][1], 0)}" if shares else ""
        parts.append(
            f"variance {_pct(split.get('systematic_share'), 0)} systematic (factors){lead}, "
            f"{_pct(split.get('specific_share'), 0)} specific"
        )
    bench = found.get("benchmark")
    if bench:
        parts.append(
            f"tracking error to {bench.get('symbol')} {_pct(bench.get('tracking_error'), 1)}"
        )
    return "; ".join(parts) + "."


def _change_section(found: dict[str, Any]) -> str:
    """The VaR change split into book and market effects, and the P&L attribution."""
    change = found.get("var_change")
    attribution = found.get("attribution")
    if change is None and attribution is None:
        return "Change: not available" + _why(found) + "."
    parts = []
    if change is not None:
        moved = (
            change["today_fraction"] - change["previous_fraction"]
            if change.get("today_fraction") is not None
            and change.get("previous_fraction") is not None
            else None
        )
        parts.append(
            f"Change since {change['previous_as_of']}: 95 % historical VaR "
            f"{_pct(change.get('previous_fraction'), 3)} -> {_pct(change.get('today_fraction'), 3)} "
            f"of NAV ({_signed_pct(moved, 3)}): book effect (trades) "
            f"{_signed_pct(change.get('book_effect_fraction'), 3)}, market effect (new prices) "
            f"{_signed_pct(change.get('market_effect_fraction'), 3)}"
        )
    else:
        parts.append("Change: VaR change not available")
    if attribution is not None:
        moves = attribution.get("largest_position_moves") or []
        parts.append(
            f"P&L {_signed_money(found.get('actual_pnl'))}: holding "
            f"{_signed_money(attribution.get('holding_pnl'))} (factors "
            f"{_signed_money(attribution.get('factor_pnl'))}, specific "
            f"{_signed_money(attribution.get('specific_pnl'))}), trading "
            f"{_signed_money(attribution.get('trading_pnl'))}"
            + (
                "; largest moves "
                + ", ".join(f"{m['symbol']} {_signed_money(m['pnl'])}" for m in moves[:3])
                if moves
                else ""
            )
        )
    return "; ".join(parts) + "."


def _limits_section(found: dict[str, Any]) -> str:
    """Breaches first, then how many limits are within bounds."""
    states = found.get("limits")
    if states is None:
        return "Limits: none evaluated for this date."
    if not states:
        return "Limits: none configured."
    alerts = [s for s in states if s["status"] in ("new", "continuing", "unknown")]
    if not alerts:
        return f"Limits: all {len(states)} within their bounds."
    return (
        f"Limits: {found.get('breaches', 0)} in breach"
        + (f", {found['unknown']} unknown" if found.get("unknown") else "")
        + " - "
        + "; ".join(
            f"{s['limit']} {s['status']} (value {_num(s['value'], 4)}, bound "
            f"{s['bound'] if isinstance(s['bound'], list) else _num(s['bound'], 4)})"
            for s in alerts
        )
        + "."
    )


def _backtest_section(found: dict[str, Any]) -> str:
    """Exceptions and the Basel zone, or why there is no backtest yet."""
    block = found.get("backtest")
    if not block:
        return "Backtest: not yet" + _why(found) + "."
    v95, v99 = block["var_95"], block["var_99"]
    zone = f", Basel zone {v99['basel_zone']}" if v99.get("basel_zone") else ""
    return (
        f"Backtest: the 95 % VaR was exceeded {v95['exceptions']} times in {v95['days']} "
        f"sessions (expected {_num(v95['expected'], 1)}, Kupiec p {_num(v95['p_value'], 3)}); "
        f"the 99 % VaR {v99['exceptions']} times (expected {_num(v99['expected'], 1)}){zone}."
    )


def offline_answer(question: str, toolbox: Toolbox, note: str = OFFLINE_NOTE) -> str:
    """A plain-text answer from the tool outputs, most relevant sections first."""
    portfolio = toolbox.portfolio
    if toolbox.snapshot is None:
        return (
            f"{_sentence(note)}\n\nNo risk results are stored for "
            f"{portfolio.external_id} yet: run the nightly-risk flow first."
        )
    summary = toolbox.run("get_risk_summary", {})
    factors = toolbox.run("get_factor_exposures", {})
    stress = toolbox.run("get_stress_results", {"limit": 3})
    positions = toolbox.run("get_positions", {"limit": 5})
    reports = toolbox.run("get_reports", {})
    valuation = summary.get("valuation") or {}
    nav = valuation.get("nav")
    full = (summary.get("risk") or {}).get("full") or {}

    def var(key: str) -> str:
        block = full.get(key) or {}
        return f"{_money(block.get('currency'))} ({_pct(block.get('fraction'))} of NAV)"

    sections: dict[str, str] = {
        "value": (
            f"Value: NAV {_money(nav)}; gross exposure {_money(valuation.get('gross_exposure'))}, "
            f"net exposure {_money(valuation.get('net_exposure'))} "
            f"(net leverage {_num(valuation.get('net_leverage'))}x); daily P&L "
            f"{_money(summary.get('daily_pnl'))} ({_pct(summary.get('daily_return'))})."
        ),
        "risk": (
            f"Risk: 1-day 95 % historical VaR {var('hist_var_95')}; 99 % VaR {var('hist_var_99')}; "
            f"95 % expected shortfall {var('cvar_95')}; annualised volatility "
            f"{_pct(full.get('ann_vol'), 1)} over {full.get('n_obs', 'n/a')} days."
        ),
        "market": (
            f"Market: beta to SPY {_num((summary.get('beta_spy') or {}).get('150d'))} (150 days); "
            f"DV01 {_money((summary.get('rate_sensitivity') or {}).get('dv01'))} per +1 bp."
        ),
    }
    ranked = sorted(
        (f for f in factors["factors"] if f["beta"] is not None),
        key=lambda f: abs(f["beta"]),
        reverse=True,
    )
    sections["factors"] = (
        "Factors: "
        + (", ".join(f"{f['factor']} {_num(f['beta'])}" for f in ranked[:4]) or "none stored")
        + f" (R² {_num(factors.get('r2'))})."
    )
    sections["stress"] = (
        "Stress: worst scenarios "
        + (
            ", ".join(
                f"{s['scenario']} {_money(s['pnl'])} ({_pct(s['return_impact'], 1)})"
                for s in stress["worst"]
            )
            or "none stored"
        )
        + "."
    )
    sections["positions"] = (
        "Largest positions: "
        + (
            ", ".join(f"{p['symbol']} {_pct(p['weight'], 1)}" for p in positions["largest"])
            or "none"
        )
        + "."
    )
    warnings = summary.get("warnings") or []
    sections["warnings"] = "Warnings: " + ("; ".join(warnings[:5]) if warnings else "none") + "."
    files = reports["files"]
    newest = [f["file"] for f in files if f["as_of"] == files[0]["as_of"]] if files else []
    sections["reports"] = (
        f"Reports: {reports['reports']} file(s); newest ({files[0]['as_of']}): "
        f"{', '.join(sorted(newest))}."
        if files
        else "Reports: none stored yet."
    )
    sections["drivers"] = _drivers_section(toolbox.run("get_risk_contributions", {"limit": 3}))
    sections["change"] = _change_section(toolbox.run("get_risk_change", {}))
    limits = toolbox.run("get_limits", {})
    sections["limits"] = _limits_section(limits)
    sections["backtest"] = _backtest_section(toolbox.run("get_backtest", {}))
    lowered = f" {question.lower()} "
    wanted = [t for t, words in TOPICS.items() if any(w in lowered for w in words)]
    # Breaches first, whatever the question.
    if limits.get("breaches") or limits.get("unknown"):
        wanted = ["limits", *(t for t in wanted if t != "limits")]
    order = [*wanted, *(k for k in sections if k not in wanted)]
    lines = [f"- {sections[k]}" for k in order if k in sections]
    header = (
        f"{_sentence(note)}\n\n"
        f"{portfolio.external_id} ({portfolio.name}), snapshot of {toolbox.as_of} "
        f"(status {toolbox.snapshot.status}):"
    )
    return header + "\n" + "\n".join(lines)


# ---- the language model ----------------------------------------------------------------------
def _tool_message(message: Any) -> ChatCompletionMessageParam:
    """The assistant's tool-call turn, replayed in the next request."""
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls
            if getattr(call, "type", "function") == "function"
        ],
    }


def llm_answer(question: str, toolbox: Toolbox, api_key: str) -> tuple[str, str]:
    """Ask the model, running the tools it calls; returns (answer, model)."""
    settings = toolbox.settings
    model = settings.openai_model
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Portfolio {toolbox.portfolio.external_id} ({toolbox.portfolio.name}); "
            f"stored snapshot as of {toolbox.as_of or 'none'}.\n\nQuestion: {question}",
        },
    ]
    with openai.OpenAI(
        api_key=api_key,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
    ) as client:
        for round_ in range(MAX_ROUNDS + 1):
            last = round_ == MAX_ROUNDS or len(toolbox.calls) >= MAX_TOOL_CALLS
            completion = client.chat.completions.create(
                model=model,
                messages=messages,
                tools=TOOLS,
                tool_choice="none" if last else "auto",
                temperature=0,
            )
            message = completion.choices[0].message
            calls = [c for c in message.tool_calls or [] if getattr(c, "type", "") == "function"]
            if not calls or last:
                return (message.content or "").strip() or "The model gave no answer.", (
                    completion.model or model
                )
            messages.append(_tool_message(message))
            for call in calls:
                function = call.function  # type: ignore[union-attr]
                try:
                    arguments = json.loads(function.arguments or "{}")
                except json.JSONDecodeError:
                    arguments = None
                if not isinstance(arguments, dict):
                    result: dict[str, Any] = {"error": "arguments must be a JSON object"}
                else:
                    result = toolbox.run(function.name, arguments)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": json.dumps(result, default=str, allow_nan=False),
                    }
                )
    raise AssertionError("unreachable")  # pragma: no cover


def analyze(
    session: Session, portfolio: Portfolio, question: str, settings: Settings
) -> tuple[Answer, dt.date | None]:
    """Answer ``question`` about ``portfolio``; returns the answer and the snapshot date."""
    snapshot = api_reads.snapshot_for(session, portfolio.id, None)
    toolbox = Toolbox(session=session, portfolio=portfolio, snapshot=snapshot, settings=settings)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    note = OFFLINE_NOTE
    if key:
        try:
            text, model = llm_answer(question, toolbox, key)
        except openai.OpenAIError as exc:
            # The exception class and status only: messages may echo request details.
            status = getattr(exc, "status_code", None)
            reason = type(exc).__name__ + (f" {status}" if status else "")
            log.warning("analyze %s: the language model failed (%s)", portfolio.external_id, reason)
            note = f"the language model failed ({reason}); answer built from the stored figures"
        else:
            log.info(
                "analyze %s: %d tool call(s), model %s",
                portfolio.external_id,
                len(toolbox.calls),
                model,
            )
            return Answer(text, "llm", model, list(toolbox.calls)), toolbox.as_of
    offline = Toolbox(session=session, portfolio=portfolio, snapshot=snapshot, settings=settings)
    text = offline_answer(question, offline, note)
    return Answer(text, "offline", None, list(offline.calls), note), toolbox.as_of

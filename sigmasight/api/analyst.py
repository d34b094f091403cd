"""Answers to questions about one portfolio, from its stored results only.

With ``OPENAI_API_KEY`` the question goes to an OpenAI-compatible chat model that may call
the tools below, which read the stored risk, factor exposures, stress results, positions
and reports (never anything of another portfolio). Without a key, or when the model cannot
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
from sigmasight.repositories import api_reads
from sigmasight.repositories import results as results_repo
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
(negative = loss). Quote the as-of date. If the stored data cannot answer the question, say so \
plainly; never invent a number. Be concise: a few sentences or bullet points."""

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

    def run(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run a tool by name; an unknown tool or a failure is an error result, not a crash."""
        tools: dict[str, Callable[..., dict[str, Any]]] = {
            "get_risk_summary": self.risk_summary,
            "get_factor_exposures": self.factor_exposures,
            "get_stress_results": self.stress_results,
            "get_positions": self.positions,
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
    "risk": ("var", "risk", "loss", "shortfall", "volatil", "drawdown", "tail", "es "),
    "market": ("beta", "market", "spy", "rate", "duration", "dv01"),
    "factors": ("factor", "style", "value", "growth", "momentum", "quality", "size", "exposure"),
    "stress": ("stress", "scenario", "crash", "shock", "worst", "what if"),
    "positions": ("position", "holding", "concentrat", "largest", "weight", "stock", "option"),
    "reports": ("report",),
}


def _sentence(note: str) -> str:
    return note[:1].upper() + note[1:] + "."


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
    lowered = f" {question.lower()} "
    wanted = [t for t, words in TOPICS.items() if any(w in lowered for w in words)]
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

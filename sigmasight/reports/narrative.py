"""The report's short risk commentary: OpenAI when configured, else a deterministic template.

With ``OPENAI_API_KEY`` set, :class:`NarrativeWriter` asks a chat-completions model
(``SIGMASIGHT_OPENAI_MODEL``, default ``gpt-4o-mini``; ``OPENAI_BASE_URL`` for any
OpenAI-compatible server) for four to six sentences at temperature 0, giving it only a
compact summary of the stored figures and a prompt that forbids anything the figures do not
support. Without a key, or on any failure (network, HTTP status, timeout after the SDK's
retries, an empty answer), the commentary is :func:`template_narrative`, built from the
same document; a narrative never fails a report. After ``max_failures`` consecutive
failures the writer stops calling the API for the rest of its life (one chunk of reports),
so an unreachable endpoint costs a few timeouts, not one per portfolio.

The API key is never logged: failures are logged by exception type and a message with the
key replaced by ``***``.
"""

import json
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sigmasight.documents import RiskDocument
from sigmasight.reports import fmt
from sigmasight.reports.model import Narrative

log = logging.getLogger(__name__)

MAX_CHARS = 1500

SYSTEM_PROMPT = (
    "You write the commentary paragraph of a daily portfolio risk report. "
    "Use only the figures in the JSON the user sends: do not invent or estimate numbers, do "
    "not mention market events, causes, news or forecasts, and give no investment advice. "
    "If a figure is null, say it is unavailable. Conventions: money is in the portfolio's "
    "currency; fractions are of NAV (0.0288 = 2.88%); VaR and CVaR are one-day losses stated "
    "as positive numbers; betas are to the ETF named; stress P&L is the loss or gain if the "
    "scenario happened today. Write 4 to 6 plain sentences (no headings, lists or markdown), "
    "under 130 words, most important risks first."
)


def _r(value: Any, digits: int = 4) -> Any:
    """Round to ``digits`` significant figures (keeps the prompt short)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def _stress_ranked(document: RiskDocument) -> list[tuple[str, float]]:
    """Scenarios by linear P&L (the document's ``stress``, defined for every scenario)."""
    ranked = [(name, v.pnl) for name, v in document.stress.items() if v.pnl is not None]
    return sorted(ranked, key=lambda item: (item[1], item[0]))


def prompt_facts(
    document: RiskDocument, factor_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The figures the model may use: headline blocks, top positions, worst/best stress.

    The blocks are sent as the document stores them (its JSON form, unknown keys included).
    """
    names = factor_names or {}
    data = document.as_json()
    full = (data.get("risk") or {}).get("full") or {}
    positions = sorted(
        data.get("positions") or [],
        key=lambda p: -abs(p.get("weight") or 0.0),
    )[:5]
    ranked = _stress_ranked(document)
    nav = document.valuation.nav
    return {
        "portfolio": data.get("portfolio_id"),
        "as_of": data.get("as_of"),
        "valuation": {k: _r(v) for k, v in (data.get("valuation") or {}).items()},
        "daily_pnl": {k: _r(v) for k, v in (data.get("daily_pnl") or {}).items()},
        "one_day_risk_full_history": {
            "n_obs": full.get("n_obs"),
            "ann_vol": _r(full.get("ann_vol")),
            **{
                key: _r((full.get(key) or {}).get("currency"))
                for key in ("hist_var_95", "hist_var_99", "cvar_95")
            },
        },
        "beta_spy": {k: _r(v) for k, v in (data.get("beta_spy") or {}).items()},
        "factor_betas": {
            (f"{s} ({names[s]})" if s in names else s): _r(b)
            for s, b in ((data.get("factor_exposures") or {}).get("betas") or {}).items()
        },
        "rate_sensitivity": {
            k: _r(v) for k, v in (data.get("rate_sensitivity") or {}).items() if k != "series"
        },
        "performance_of_todays_book": {
            k: _r(v) for k, v in (data.get("performance") or {}).items()
        },
        "largest_positions": [
            {"symbol": p.get("symbol"), "weight": _r(p.get("weight"))} for p in positions
        ],
        "worst_stress_linear": [
            {"scenario": n, "pnl": _r(p), "fraction_of_nav": _r(p / nav) if nav else None}
            for n, p in ranked[:3]
        ],
        "best_stress_linear": [{"scenario": n, "pnl": _r(p)} for n, p in ranked[-2:][::-1]],
        "warnings": list(data.get("warnings") or []),
    }


def prompt_messages(
    document: RiskDocument, factor_names: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """The chat messages sent to the model."""
    facts = json.dumps(prompt_facts(document, factor_names), separators=(",", ":"))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Risk figures:\n{facts}"},
    ]


def _label(name: str) -> str:
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def template_narrative(
    document: RiskDocument, factor_names: Mapping[str, str] | None = None
) -> str:
    """A deterministic commentary from the document's own figures (skips missing ones)."""
    names = factor_names or {}
    val = document.valuation
    nav = val.nav
    sentences: list[str] = []
    if nav is None:
        return (
            f"The book could not be valued on {document.as_of}: "
            f"{'; '.join(document.warnings or ['prices are missing'])}. "
            "Risk figures that depend on the valuation are unavailable."
        )
    lev = val.gross_leverage
    first = f"On {document.as_of} the book was worth {fmt.money(nav, 0)}"
    if val.gross_exposure is not None and lev is not None:
        first += f", with gross exposure of {fmt.money(val.gross_exposure, 0)} ({lev:.2f}x NAV)"
        if val.net_leverage is not None:
            first += f" and net exposure of {val.net_leverage:.2f}x"
    daily = document.daily_pnl
    if daily is not None and daily.pnl is not None:
        verb = "gained" if daily.pnl >= 0 else "lost"
        first += f"; it {verb} {fmt.money(abs(daily.pnl), 0)} ({fmt.pct(daily.return_, 2, sign=True)}) on the day"
    sentences.append(first + ".")
    full = document.risk.get("full")
    var = full.hist_var_95.currency if full is not None else None
    if full is not None and var is not None:
        cvar = full.cvar_95.currency
        text = (
            f"One-day 95% historical VaR is {fmt.money(var, 0)} "
            f"({fmt.pct(full.hist_var_95.fraction)} of NAV)"
        )
        if cvar is not None:
            text += f" and the expected shortfall beyond it {fmt.money(cvar, 0)}"
        if full.ann_vol is not None:
            text += f"; annualised volatility is {fmt.pct(full.ann_vol, 1)}"
        sentences.append(text + ".")
    else:
        sentences.append("VaR is unavailable: the book has too little return history.")
    beta = document.beta_spy.d150
    exposures = document.factor_exposures
    betas = {s: b for s, b in (exposures.betas if exposures else {}).items() if b is not None}
    style = sorted(((s, b) for s, b in betas.items() if s != "SPY"), key=lambda x: -abs(x[1]))
    if beta is not None:
        text = f"Beta to SPY over 150 days is {beta:.2f}"
        if style:
            s, b = style[0]
            label = f"{s} ({names[s]})" if s in names else s
            text += f"; the largest style exposure is {label} at {b:+.2f}"
        sentences.append(text + ".")
    ranked = _stress_ranked(document)
    if ranked:
        worst_name, worst = ranked[0]
        best_name, best = ranked[-1]
        text = (
            f"The worst stress scenario, {_label(worst_name)}, would "
            f"{'cost' if worst < 0 else 'still gain'} {fmt.money(abs(worst), 0)}"
            f" ({fmt.pct(worst / nav if nav else None, 1, sign=True)} of NAV)"
        )
        if best_name != worst_name and best > 0:
            text += f", while {_label(best_name)} would gain {fmt.money(best, 0)}"
        sentences.append(text + ".")
    perf = document.performance
    if perf is not None and perf.cumulative_return is not None and perf.max_drawdown is not None:
        sentences.append(
            f"Held over the stored history, today's positions returned "
            f"{fmt.pct(perf.cumulative_return, 1, sign=True)} with a maximum drawdown of "
            f"{fmt.pct(perf.max_drawdown, 1)}."
        )
    warnings = document.warnings
    if warnings:
        sentences.append(
            f"{len(warnings)} data warning{'s' if len(warnings) != 1 else ''} apply; "
            "figures that depend on missing data are left blank."
        )
    return " ".join(sentences)


class NarrativeWriter:
    """Writes one commentary per document; see the module docstring for the fallback rules."""

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        timeout_s: float = 20.0,
        max_retries: int = 2,
        max_failures: int = 3,
    ) -> None:
        self.model = model
        self.max_failures = max_failures
        self._secret = api_key or ""
        self._failures = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._disabled_note = "OPENAI_API_KEY is not set"
        if api_key:
            try:
                from openai import OpenAI

                self._client = OpenAI(
                    api_key=api_key,
                    base_url=base_url or None,
                    timeout=timeout_s,
                    max_retries=max_retries,
                )
            except Exception as exc:  # a bad base URL must not fail the report
                self._disabled_note = f"OpenAI client unavailable: {self._describe(exc)}"
                log.warning("narratives use the template: %s", self._disabled_note)

    @property
    def uses_openai(self) -> bool:
        """True while API calls are being made."""
        return self._client is not None and self._failures < self.max_failures

    def _describe(self, exc: BaseException) -> str:
        message = str(exc).replace("\n", " ")[:300]
        if self._secret:
            message = message.replace(self._secret, "***")
        return f"{type(exc).__name__}: {message}" if message else type(exc).__name__

    def _ask(self, document: RiskDocument, factor_names: Mapping[str, str] | None) -> str:
        response = self._client.chat.completions.create(
            model=self.model,
            messages=prompt_messages(document, factor_names),
            temperature=0,
            max_tokens=350,
        )
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise ValueError("the model returned an empty commentary")
        return text[:MAX_CHARS]

    def write(
        self, document: RiskDocument, factor_names: Mapping[str, str] | None = None
    ) -> Narrative:
        """The commentary for one document (never raises)."""
        template = template_narrative(document, factor_names)
        if self._client is None:
            return Narrative(template, "template", note=self._disabled_note)
        if not self.uses_openai:
            return Narrative(
                template,
                "template",
                note=f"OpenAI skipped after {self.max_failures} consecutive failures",
            )
        try:
            text = self._ask(document, factor_names)
        except Exception as exc:  # any failure falls back to the template
            with self._lock:
                self._failures += 1
            reason = self._describe(exc)
            log.warning(
                "narrative for %s: OpenAI call failed (%s); using the template",
                document.portfolio_id,
                reason,
            )
            return Narrative(template, "template", note=f"OpenAI failed: {reason}")
        with self._lock:
            self._failures = 0
        return Narrative(text, "openai", model=self.model)

    def write_many(
        self,
        documents: Sequence[RiskDocument],
        factor_names: Mapping[str, str] | None = None,
        *,
        workers: int = 4,
    ) -> list[Narrative]:
        """Commentaries for many documents, ``workers`` API calls at a time."""
        task: Callable[[RiskDocument], Narrative] = lambda d: self.write(d, factor_names)  # noqa: E731
        if not self.uses_openai or workers <= 1 or len(documents) <= 1:
            return [task(d) for d in documents]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="narrative") as pool:
            return list(pool.map(task, documents))

    def close(self) -> None:
        """Release the HTTP client."""
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> "NarrativeWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

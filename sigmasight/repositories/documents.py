"""Stored risk documents: the ``sigmasight.risk/1`` document joined from its stored parts.

The nightly run stores a headline document per snapshot and positions (with their risk
decomposition figures) and correlations in their own tables; this is the one read model that
joins them again, for the API, the CLI's ``export risk`` and the reports.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from models import PortfolioSnapshot
from sigmasight.documents import RiskDocument
from sigmasight.repositories import results as results_repo
from sigmasight.repositories import risk_inputs
from sigmasight.risk import document as doc

#: The position detail (``positions`` entries, ``correlation`` block) of snapshots whose
#: stored detail was dropped by retention, rebuilt from point-in-time inputs
#: (``sigmasight.dated_risk.detail_rebuilder``), by (portfolio id, date).
Detail = tuple[list[dict[str, Any]], dict[str, Any], list[doc.DecompositionRow]]
DetailSource = Callable[[Session, Sequence[PortfolioSnapshot]], dict[tuple[int, dt.date], Detail]]


def documents_for(
    session: Session,
    as_of: dt.date | None,
    external_ids: Sequence[str] | None = None,
    *,
    rebuild: DetailSource | None = None,
) -> list[RiskDocument]:
    """The stored documents of ``as_of`` (or the current ones), by external id.

    ``external_ids`` limits the read to those portfolios (a reports chunk); the snapshots,
    their positions and their correlations are read in one query each. A snapshot older
    than the detail retention has no stored positions or correlations: ``rebuild``
    computes them again (without it, they come back empty).
    """
    found = results_repo.snapshots_for(session, as_of, external_ids)
    if not found:
        return []
    return _documents(session, [snap for snap, _ in found], rebuild)


def stored_document(
    session: Session, snap: PortfolioSnapshot, *, rebuild: DetailSource | None = None
) -> RiskDocument:
    """One snapshot's full ``sigmasight.risk/1`` document, joined from its stored parts."""
    return _documents(session, [snap], rebuild)[0]


def _documents(
    session: Session, snaps: Sequence[PortfolioSnapshot], rebuild: DetailSource | None
) -> list[RiskDocument]:
    keys = [(snap.portfolio_id, snap.as_of_date) for snap in snaps]
    positions = results_repo.positions_of(session, keys)
    correlations = results_repo.correlation_matrices_of(session, keys)
    factors = tuple(risk_inputs.load_factors(session))
    # Every stored date with detail has a correlation row (empty for a book of one asset).
    pruned = [s for s in snaps if (s.portfolio_id, s.as_of_date) not in correlations]
    rebuilt = rebuild(session, pruned) if rebuild is not None and pruned else {}
    documents = []
    for snap in snaps:
        key = (snap.portfolio_id, snap.as_of_date)
        block: dict[str, Any] | None
        if key in rebuilt:
            entries, block, decomposition = rebuilt[key]
        else:
            rows = positions.get(key, [])
            entries = [position_entry(row) for row in rows]
            decomposition = [decomposition_row(row) for row in rows]
            corr = correlations.get(key)
            block = doc.correlation_block(*corr) if corr else None
        documents.append(_joined(snap, entries, block, factors, decomposition))
    return documents


def _joined(
    snap: PortfolioSnapshot,
    entries: list[dict[str, Any]],
    correlation: dict[str, Any] | None,
    factors: tuple[str, ...],
    decomposition: list[doc.DecompositionRow],
) -> RiskDocument:
    stored = dict(snap.document or {})
    head: dict[str, Any] = {}
    for key in ("schema", "portfolio_id", "as_of"):
        if key in stored:
            head[key] = stored.pop(key)
    head["run_id"] = str(snap.run_id)
    head.update(stored)
    return RiskDocument.model_validate(
        doc.assemble(head, entries, correlation, factors, decomposition)
    )


def position_entry(row: Any) -> dict[str, Any]:
    """A stored position row as the document's ``positions`` entry."""
    entry: dict[str, Any] = {"symbol": row.symbol, "quantity": row.quantity}
    if row.underlying is not None:
        entry["underlying"] = row.underlying
    entry.update(
        price=row.price, market_value=row.market_value, exposure=row.exposure, weight=row.weight
    )
    if row.underlying is not None:
        entry["greeks"] = {key: getattr(row, key) for key in doc.GREEK_KEYS}
    return entry


def decomposition_row(row: Any) -> doc.DecompositionRow:
    """A stored position row's risk-decomposition figures (``decomposition.positions``)."""
    return doc.DecompositionRow(
        symbol=row.symbol,
        underlying=row.underlying if row.underlying is not None else row.symbol,
        weight=row.weight,
        mctr_daily=row.mctr_daily,
        ctr_daily=row.ctr_daily,
        param_var_95=row.param_var_95_component,
        cvar_95=row.cvar_95_component,
    )

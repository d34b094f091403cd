"""``POST /api/v1/portfolios/{id}/analyze``: a question answered from the stored results."""

from fastapi import APIRouter, Request

from sigmasight.api import analyst
from sigmasight.api.auth import RateLimiter
from sigmasight.api.deps import PortfolioDep, SessionDep, SettingsDep, UserDep
from sigmasight.api.errors import problem_schema, rate_limited
from sigmasight.api.schemas import AnalyzeRequest, AnalyzeResponse, ToolCallOut

router = APIRouter(prefix="/api/v1/portfolios", tags=["analyze"])


@router.post(
    "/{portfolio_id}/analyze",
    response_model=AnalyzeResponse,
    responses=problem_schema(401, 404, 422, 429),
    summary="Ask a question about the portfolio's stored risk",
)
def analyze(
    body: AnalyzeRequest,
    request: Request,
    user: UserDep,
    portfolio: PortfolioDep,
    session: SessionDep,
    settings: SettingsDep,
) -> AnalyzeResponse:
    """Answer a question from the portfolio's stored figures.

    With OPENAI_API_KEY a chat model answers, calling tools that read the stored risk,
    exposures, stress results, positions, risk contributions (what drives the risk), the
    day's VaR change and P&L attribution (why it moved), limits, the VaR backtest and
    reports; without it (or when the model fails) the answer is built from the same figures
    and says so, limit breaches first. Each user may ask
    ``SIGMASIGHT_ANALYZE_RATE_LIMIT`` questions per minute (default 10; model calls cost).
    """
    limiter: RateLimiter = request.app.state.analyze_limiter
    wait = limiter.hit(f"user:{user.id}")
    if wait is not None:
        raise rate_limited(wait, "questions", limiter.limit)
    answer, as_of = analyst.analyze(session, portfolio, body.question, settings)
    return AnalyzeResponse(
        portfolio_id=portfolio.external_id,
        as_of=as_of,
        question=body.question,
        answer=answer.text,
        mode="llm" if answer.mode == "llm" else "offline",
        model=answer.model,
        tool_calls=[ToolCallOut(name=c.name, arguments=c.arguments) for c in answer.tool_calls],
        note=answer.note,
    )

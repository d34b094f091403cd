"""Limits over several sessions (C31) on a real PostgreSQL and Prefect, and the breach alert.

The history world (tests/history_world.py) carries default limits and portfolios' own
limits that its figures cross. Each date's ``limits`` block is checked against figures and
statuses computed here from the exported documents; the alert is checked against a real
local HTTP server standing in for the Slack webhook.
"""

import datetime as dt
import json
from typing import Any

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text

from cli.main import main
from flows.nightly_risk import nightly_risk
from flows.risk_history import risk_history
from sigmasight import db as sdb
from sigmasight.db import session_scope
from sigmasight.repositories.limits import limit_states_on
from sigmasight.settings import get_settings
from tests import history_world as world
from tests.flows.test_risk_history import documents

KEYS = (
    "hist_var_95_fraction",
    "gross_leverage",
    "net_leverage",
    "beta_spy_150d",
    "max_position_weight",
    "worst_stress_fraction",
)


@pytest.fixture
def world_db(engine, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMASIGHT_DETAIL_RETENTION_SESSIONS", "4")
    monkeypatch.setenv("SIGMASIGHT_RISK_CHUNK_SIZE", "2")
    get_settings.cache_clear()
    world.load_world(tmp_path)


def in_effect(pid: str) -> dict[str, Any]:
    """The world's limits of one portfolio: the defaults, overridden by its own."""
    return {**world.DEFAULT_LIMITS, **world.OWN_LIMITS.get(pid, {})}


def figure(doc: dict[str, Any], key: str) -> float | None:
    """The figure a limit bounds, computed from the exported document."""
    nav = doc["valuation"]["nav"]
    if key == "hist_var_95_fraction":
        value: float | None = doc["risk"]["full"]["hist_var_95"]["fraction"]
        return value
    if key in ("gross_leverage", "net_leverage"):
        value = doc["valuation"][key]
        return value
    if key == "beta_spy_150d":
        value = doc["beta_spy"]["150d"]
        return value
    if key == "max_position_weight":
        frame = pd.DataFrame(doc["positions"])
        if "underlying" not in frame:
            frame["underlying"] = None
        asset = frame["underlying"].fillna(frame["symbol"])
        return float(frame.groupby(asset)["exposure"].sum().abs().max() / nav)
    pnls = [float(s["pnl"]) for s in doc["stress"].values()]
    return max(0.0, -min(pnls) / float(nav))


def breach(value: float, bound: Any) -> bool:
    if isinstance(bound, list):
        return bool(value < bound[0] or value > bound[1])
    return bool(abs(value) > bound)


def expected_states(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Each (portfolio, date)'s limits block as C31 defines it, from the figures alone."""
    found: dict[tuple[str, str], Any] = {}
    for pid in sorted({p for p, _ in docs}):
        before: dict[str, Any] | None = None
        for day in sorted(d for p, d in docs if p == pid):
            doc, limits = docs[(pid, day)], in_effect(pid)
            states = []
            for key in (k for k in KEYS if k in limits):
                value, bound = figure(doc, key), limits[key]
                last = None if before is None else figure(before, key)
                was = last is not None and breach(last, bound)
                now = breach(value, bound) if value is not None else None
                status = (
                    "unknown"
                    if now is None
                    else ("continuing" if was else "new")
                    if now
                    else ("resolved" if was else "ok")
                )
                states.append((key, value, bound, status))
            found[(pid, day)] = states
            before = doc
    return found


def test_limit_states_follow_the_figures_through_a_history(world_db, capsys):
    code = main(["run", "risk", "--from", world.FIRST.isoformat(), "--to", world.LAST.isoformat()])
    assert code == 0, capsys.readouterr()
    docs = {k: json.loads(v) for k, v in documents(world.RANGE).items()}
    expected = expected_states(docs)
    series: dict[tuple[str, str], list[str]] = {}
    for key, doc in docs.items():
        got = [(s["limit"], s["value"], s["bound"], s["status"]) for s in doc["limits"]]
        want = expected[key]
        assert [(k, b, s) for k, _, b, s in got] == [(k, b, s) for k, _, b, s in want], key
        for (_, value, _, _), (_, computed, _, _) in zip(got, want, strict=True):
            assert (value is None) == (computed is None)
            assert value == pytest.approx(computed, rel=1e-12) or computed is None
        for limit, _, _, status in got:
            series.setdefault((key[0], limit), []).append(status)
    # A breach started, continued and resolved (HIST_A's VaR limit and others).
    assert series[("HIST_A", "hist_var_95_fraction")][:5] == [
        "new",
        "continuing",
        "continuing",
        "resolved",
        "ok",
    ]
    assert series[("HIST_A", "gross_leverage")][:3] == ["ok", "new", "resolved"]
    # HIST_A's own gross leverage limit replaced no default; HIST_C's override the default
    # max_position_weight; HIST_B has the defaults only.
    assert {s["limit"] for s in docs[("HIST_B", "2025-12-01")]["limits"]} == set(
        world.DEFAULT_LIMITS
    )
    c = {s["limit"]: s["bound"] for s in docs[("HIST_C", "2025-12-01")]["limits"]}
    assert c["max_position_weight"] == world.OWN_LIMITS["HIST_C"]["max_position_weight"]
    # The read the API and the reports use gives the stored states, typed.
    with session_scope() as session:
        pid = session.execute(
            text("SELECT id FROM portfolio WHERE external_id = 'HIST_C'")
        ).scalar_one()
        on_day = limit_states_on(session, pid, dt.date(2025, 12, 2))
        current = limit_states_on(session, pid)
        assert limit_states_on(session, pid, dt.date(2025, 11, 27)) is None
    assert on_day is not None and current is not None
    assert [s.model_dump() for s in on_day.states] == [
        {**s, "bound": tuple(s["bound"]) if isinstance(s["bound"], list) else s["bound"]}
        for s in docs[("HIST_C", "2025-12-02")]["limits"]
    ]
    assert current.as_of == world.LAST
    assert any(s.in_breach for s in on_day.states)


def test_a_new_breach_is_posted_once_by_the_nightly_run_only(
    world_db, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, capfd
):
    secret = "/hooks/T000/B000/LIMITSECRET"
    httpserver.expect_request(secret, method="POST").respond_with_data("ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for(secret))
    get_settings.cache_clear()
    sdb.reset_engine()
    # History runs do not alert about the past, though these sessions have new breaches.
    state = risk_history(from_date=world.FIRST, to_date=dt.date(2025, 11, 26), return_state=True)
    assert state.is_completed(), state.message
    assert httpserver.log == []
    # Nights without a new breach post nothing; 12-02 has new ones.
    for day in (dt.date(2025, 11, 28), dt.date(2025, 12, 1), dt.date(2025, 12, 2)):
        assert nightly_risk(as_of=day, return_state=True).is_completed()
    # Rerunning the date, the next night (the breaches continue) and an older date with
    # new breaches of its own: no further message.
    for day in (dt.date(2025, 12, 2), dt.date(2025, 12, 3), dt.date(2025, 11, 21)):
        assert nightly_risk(as_of=day, return_state=True).is_completed()
    docs = {k: json.loads(v) for k, v in documents(world.RANGE[:9]).items()}
    new_on = {
        day: [
            {"portfolio": pid, "limit": s["limit"], "value": s["value"], "bound": s["bound"]}
            for (pid, d), doc in sorted(docs.items())
            if d == day
            for s in doc["limits"]
            if s["status"] == "new"
        ]
        for day in ("2025-11-21", "2025-11-28", "2025-12-01", "2025-12-02", "2025-12-03")
    }
    assert new_on["2025-11-21"] and not new_on["2025-11-28"] and not new_on["2025-12-01"]
    assert not new_on["2025-12-03"]
    assert len(new_on["2025-12-02"]) >= 2
    assert len(httpserver.log) == 1
    body = json.loads(httpserver.log[0][0].get_data())
    assert body["as_of"] == "2025-12-02"
    assert body["breaches"] == new_on["2025-12-02"]
    for b in new_on["2025-12-02"]:
        assert f"{b['portfolio']}: {b['limit']}" in body["text"]
    assert f"{len(new_on['2025-12-02'])} new limit breaches on 2025-12-02" in body["text"]
    with session_scope() as session:
        alerts = session.execute(text("SELECT count(*), min(as_of_date) FROM limit_alert")).one()
    assert tuple(alerts) == (len(new_on["2025-12-02"]), dt.date(2025, 12, 2))
    # The webhook's token appears in no log line but the fake server's own access log.
    err = capfd.readouterr().err
    ours = [line for line in err.splitlines() if '"POST /hooks/' not in line]
    assert "new limit breach(es) on 2025-12-02 posted to the webhook" in err
    assert not [line for line in ours if "LIMITSECRET" in line]

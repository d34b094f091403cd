"""Report files (list, metadata, download) and the run ledger."""

import hashlib
import uuid

from sqlalchemy import text

from sigmasight.db import get_engine

P = "/api/v1/portfolios"


def test_reports_are_listed_newest_first_and_paginated(client, hnw, world):
    body = client.get(f"{P}/DEMO_HNW/reports", headers=hnw).json()
    assert body["total"] == 8  # four files on each of two dates
    dates = [r["as_of"] for r in body["items"]]
    assert dates == sorted(dates, reverse=True)
    first = body["items"][0]
    assert set(first) == {
        "id",
        "portfolio_id",
        "as_of",
        "kind",
        "filename",
        "size_bytes",
        "sha256",
        "created_at",
        "run_id",
        "download_url",
        "view_url",
    }
    assert first["download_url"] == f"{P}/DEMO_HNW/reports/{first['id']}/download"
    html = client.get(
        f"{P}/DEMO_HNW/reports",
        params={"kind": "html", "as_of": world.as_of.isoformat()},
        headers=hnw,
    ).json()
    assert [r["filename"] for r in html["items"]] == ["report.html"]
    assert html["items"][0]["view_url"] == f"/reports/DEMO_HNW/{world.as_of}/report.html"
    page = client.get(f"{P}/DEMO_HNW/reports", params={"limit": 3, "offset": 6}, headers=hnw)
    assert len(page.json()["items"]) == 2


def test_report_metadata_and_download(client, hnw):
    items = client.get(f"{P}/DEMO_HNW/reports", params={"kind": "csv"}, headers=hnw).json()["items"]
    report = items[0]
    meta = client.get(f"{P}/DEMO_HNW/reports/{report['id']}", headers=hnw)
    assert meta.json() == report
    download = client.get(report["download_url"], headers=hnw)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == 'attachment; filename="positions.csv"'
    assert hashlib.sha256(download.content).hexdigest() == report["sha256"]
    assert len(download.content) == report["size_bytes"]
    assert download.content.startswith(b"symbol,quantity\n")


def test_a_report_of_another_portfolio_is_404(client, hnw, individual):
    theirs = client.get(f"{P}/DEMO_INDIVIDUAL/reports", headers=individual).json()["items"][0]
    # The HNW user asks for the individual's report id under their own portfolio.
    response = client.get(f"{P}/DEMO_HNW/reports/{theirs['id']}", headers=hnw)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "report_not_found"
    download = client.get(f"{P}/DEMO_HNW/reports/{theirs['id']}/download", headers=hnw)
    assert download.status_code == 404
    assert client.get(f"{P}/DEMO_HNW/reports/0", headers=hnw).status_code == 422
    assert client.get(f"{P}/DEMO_HNW/reports/abc", headers=hnw).status_code == 422
    huge = client.get(f"{P}/DEMO_HNW/reports/{2**70}", headers=hnw)
    assert huge.status_code == 422


def test_an_indexed_report_whose_file_is_gone_is_a_clear_404(client, hnw, world):
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE report SET path = '/nonexistent/report.md' WHERE kind = 'md'"))
    report = client.get(f"{P}/DEMO_HNW/reports", params={"kind": "md"}, headers=hnw).json()[
        "items"
    ][0]
    response = client.get(report["download_url"], headers=hnw)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "report_file_missing"


def test_flow_runs_with_status_timings_and_counts(client, individual, world):
    # the demo's first user is its operator: the whole ledger
    hnw = individual
    body = client.get("/api/v1/runs", headers=hnw).json()
    # The extra bundle's import, three risk runs, a failed market-data run, a backup run.
    assert body["total"] == 6
    flows = [r["flow"] for r in body["items"]]
    assert flows[:5] == ["backup", "market-data", "nightly-risk", "nightly-risk", "nightly-risk"]
    risk = client.get("/api/v1/runs", params={"flow": "nightly-risk"}, headers=hnw).json()
    assert [r["as_of"] for r in risk["items"]] == [d.isoformat() for d in reversed(world.dates)]
    run = risk["items"][0]
    assert run["status"] == "succeeded"
    assert run["duration_s"] >= 0
    assert run["counts"]["portfolios"] == 5
    assert "load_s" in run["timings"]
    assert run["id"] == str(world.risk_run_ids[-1])
    failed = client.get("/api/v1/runs", params={"status": "failed"}, headers=hnw).json()
    assert [(r["flow"], r["error"]) for r in failed["items"]] == [
        ("market-data", "RuntimeError: provider down")
    ]
    page = client.get("/api/v1/runs", params={"limit": 2, "offset": 2}, headers=hnw).json()
    assert len(page["items"]) == 2 and page["total"] == 6
    one = client.get(f"/api/v1/runs/{run['id']}", headers=hnw)
    assert one.json() == run
    assert client.get(f"/api/v1/runs/{uuid.uuid4()}", headers=hnw).status_code == 404
    assert client.get("/api/v1/runs/not-a-uuid", headers=hnw).status_code == 422
    assert client.get("/api/v1/runs", params={"status": "bogus"}, headers=hnw).status_code == 422


def test_a_user_who_is_not_an_operator_sees_runs_scoped_to_their_portfolios(
    client, hnw, individual, world
):
    full = client.get("/api/v1/runs", params={"limit": 50}, headers=individual).json()
    mine = client.get("/api/v1/runs", params={"limit": 50}, headers=hnw).json()
    assert mine["total"] == full["total"]
    by_id = {r["id"]: r for r in full["items"]}
    for run in mine["items"]:
        # no error texts, counts or timings (they name other users' symbols and books)
        assert run["error"] is None and run["counts"] == {} and run["timings"] == {}
        assert run["status"] == by_id[run["id"]]["status"]
        assert by_id[run["id"]]["portfolios"] is None
    failed = next(r for r in mine["items"] if r["status"] == "failed")
    assert by_id[failed["id"]]["error"] == "RuntimeError: provider down"
    risk = next(r for r in mine["items"] if r["id"] == str(world.risk_run_ids[-1]))
    # only the user's own portfolios, each with its status in that run
    owned = {p["id"] for p in client.get("/api/v1/portfolios", headers=hnw).json()["items"]}
    assert set(risk["portfolios"]) == owned == {"DEMO_HNW", "HNW_EXTRA_A", "HNW_EXTRA_B"}
    assert set(risk["portfolios"].values()) <= {"ok", "warnings", "incomplete"}
    one = client.get(f"/api/v1/runs/{risk['id']}", headers=hnw).json()
    assert one == risk

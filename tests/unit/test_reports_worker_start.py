"""What a reports worker imports when it starts, and the rebuild source it imports late."""

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sigmasight import dated_risk
from sigmasight.runs import reports as reports_run
from sigmasight.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_the_fork_server_preloads_leaves_the_risk_history_out():
    # The fork server imports sigmasight.runs.reports before any worker exists; the risk
    # history (and SciPy's statistics with it) waits until a snapshot needs rebuilding.
    code = (
        "import sys, sigmasight.runs.reports; "
        "print(sorted(m for m in ('sigmasight.dated_risk', 'scipy.stats') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def test_the_late_rebuild_source_is_the_risk_historys(monkeypatch: pytest.MonkeyPatch):
    calls: list[Any] = []

    def rebuilder(settings: Any) -> Any:
        def rebuild(session: Any, snaps: Any) -> dict[tuple[int, dt.date], Any]:
            calls.append((settings, session, snaps))
            return {(7, dt.date(2026, 1, 2)): ([], {}, [])}

        return rebuild

    monkeypatch.setattr(dated_risk, "detail_rebuilder", rebuilder)
    settings = get_settings()
    source = reports_run._detail_rebuilder(settings)
    session: Any = "session"
    snaps: Any = ["snap"]
    assert source(session, snaps) == {(7, dt.date(2026, 1, 2)): ([], {}, [])}
    assert calls == [(settings, "session", ["snap"])]

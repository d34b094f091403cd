"""A flow that fails under the CLI ends with one error line, not its traceback twice."""

import logging

from cli import common
from cli.main import main
from sigmasight.runs.seed import seed_demo
from tests.flows.test_run_guard import AS_OF


def test_an_in_flow_failure_prints_no_traceback_unless_verbose(engine, capfd, monkeypatch):
    seed_demo(AS_OF)  # books, but no prices: the risk run fails inside a task
    assert main(["run", "risk", "--as-of", AS_OF.isoformat()]) == 1
    out, err = capfd.readouterr()
    said = out + err
    assert "sigmasight: error: nightly-risk failed:" in said
    assert "no prices stored for" in said
    assert "Traceback" not in said
    assert len(said.splitlines()) < 30, said

    monkeypatch.setattr(common, "SHOW_TRACEBACKS", True)
    for handler in logging.getLogger().handlers:  # back to the formatters Prefect set
        inner = getattr(handler.formatter, "inner", None)
        if inner is not None:
            handler.setFormatter(inner)
    assert main(["-v", "run", "risk", "--as-of", AS_OF.isoformat()]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" in out + err

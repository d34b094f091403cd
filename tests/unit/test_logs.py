import json
import logging

from sigmasight.logs import JsonFormatter, RedactSecrets


def test_json_lines_carry_context_and_never_the_secret():
    record = logging.makeLogRecord(
        {
            "name": "sigmasight.runs.market_data",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "vendor said %s",
            "args": ("bad key s3cr3t-KEY",),
        }
    )
    record.flow_run_id = "0b5e"
    record.portfolio_id = "DEMO_HNW"
    assert RedactSecrets(["s3cr3t-KEY"]).filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "sigmasight.runs.market_data"
    assert line["message"] == "vendor said bad key ***"
    assert line["flow_run_id"] == "0b5e" and line["portfolio_id"] == "DEMO_HNW"
    assert "s3cr3t" not in json.dumps(line)

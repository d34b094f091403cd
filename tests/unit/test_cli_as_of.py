"""`--as-of` is checked against the calendar before anything starts (no database, no Prefect)."""

import pytest

from cli.main import main
from sigmasight.trading_calendar import last_completed_session


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "risk", "--as-of", "1990-01-02"],
            "before the trading calendar starts (2000-01-03)",
        ),
        (["run", "risk", "--as-of", "2031-01-02"], "has not closed yet"),
        (["run", "market-data", "--as-of", "2031-01-02"], "has not closed yet"),
        (["export", "risk", "--as-of", "1999-12-31"], "before the trading calendar starts"),
    ],
)
def test_as_of_outside_the_calendar_or_in_the_future_is_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if "not closed" in message:
        assert f"the last completed NYSE session is {last_completed_session()}" in err

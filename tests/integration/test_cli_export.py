"""The CLI refuses what it cannot do before anything runs: `export risk` defaults and bad
output paths, `backup verify` of an unknown key."""

from pathlib import Path

from cli.main import main
from sigmasight.trading_calendar import last_completed_session


def test_export_risk_defaults_to_the_last_completed_session(db_url, capsys):
    assert main(["export", "risk"]) == 2
    said = capsys.readouterr().err
    assert f"no risk results for {last_completed_session().isoformat()}" in said


def test_export_risk_into_a_missing_folder_is_a_clear_error(db_url, tmp_path: Path, capsys):
    target = tmp_path / "no-such-folder" / "risk.json"
    assert main(["export", "risk", "--as-of", "2025-01-02", "-o", str(target)]) == 2
    said = capsys.readouterr().err
    assert "no-such-folder" in said and "does not exist" in said
    assert "Traceback" not in said
    assert not target.parent.exists()


def test_backup_verify_of_a_key_never_recorded_is_refused_before_prefect(db_url, capsys):
    assert main(["backup", "verify", "--key", "backups/2026/01/01/nope.dump"]) == 2
    err = capsys.readouterr().err
    assert "--key backups/2026/01/01/nope.dump: no backup of that key is recorded" in err
    assert "Traceback" not in err and "prefect" not in err.lower()

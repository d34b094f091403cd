"""Served-mode log files rotate by size and keep five older files."""

import io

from cli.serve import RotatingLog, pump


def test_logs_rotate_at_the_size_limit_and_keep_five(tmp_path):
    path = tmp_path / "api.log"
    log = RotatingLog(path, max_bytes=100, backups=5)
    lines = [f"line {i:03d} ".encode() + b"x" * 40 + b"\n" for i in range(30)]  # 50 bytes each
    for line in lines:
        log.write(line)
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["api.log", *(f"api.log.{i}" for i in range(1, 6))]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    # newest lines in api.log, then .1, .2 ...; nothing older than five rotations survives
    kept = b"".join(
        (tmp_path / name).read_bytes()
        for name in ["api.log.5", "api.log.4", "api.log.3", "api.log.2", "api.log.1", "api.log"]
    )
    assert kept == b"".join(lines[-12:])


def test_pump_copies_a_stream_into_the_log(tmp_path):
    path = tmp_path / "prefect-server.log"
    pump(io.BytesIO(b"one\ntwo\n"), RotatingLog(path))
    assert path.read_bytes() == b"one\ntwo\n"


def test_an_existing_log_is_appended_to(tmp_path):
    path = tmp_path / "api.log"
    path.write_bytes(b"before\n")
    log = RotatingLog(path, max_bytes=1000)
    log.write(b"after\n")
    log.close()
    assert path.read_bytes() == b"before\nafter\n"

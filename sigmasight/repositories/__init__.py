"""Database reads and writes: functions taking a Session first, never committing."""

"""What a backup, verification or restore raises; the message always says why."""


class BackupError(RuntimeError):
    """A backup, verification or restore could not be done; the message says why."""


class PgToolVersionError(BackupError):
    """No ``pg_dump``/``pg_restore`` of the server's major version was found."""


class VerificationError(BackupError):
    """The backup is not good: missing object, checksum mismatch, restore or count mismatch."""

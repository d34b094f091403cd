"""Database backups to S3, in parts that can be read and tested on their own.

- :mod:`~sigmasight.backup.errors`: the exceptions every part raises;
- :mod:`~sigmasight.backup.keys`: pure: object keys, row-count comparison, retention policy;
- :mod:`~sigmasight.backup.pgtools`: finding a version-matched ``pg_dump``/``pg_restore``,
  their argv and environment (the password travels in ``PGPASSWORD`` only), running them;
- :mod:`~sigmasight.backup.s3stream`: streaming multipart upload, verified download,
  manifest, listing and deleting objects.

The run steps that open sessions and order these (backup, retention, verify, restore, list)
are in :mod:`sigmasight.runs.backup`. Import from the submodules; this package re-exports
nothing, so importing the pure :mod:`~sigmasight.backup.keys` pulls in no boto3 or database.
"""

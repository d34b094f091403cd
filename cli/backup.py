"""``sigmasight backup`` (take, list, verify), ``sigmasight restore`` and ``sigmasight s3``."""

import argparse
import datetime as dt
import sys

from cli.common import (
    EXIT_FAILED,
    Subparsers,
    one_line_failures,
    print_error,
    report_state,
    require_current_schema,
)
from sigmasight.domain import InputError
from sigmasight.settings import get_settings


def _backup_failure(exc: Exception) -> int:
    """One line for a failed backup, restore or S3 call (exit 1); never a URL's password."""
    print_error(str(exc))
    return EXIT_FAILED


def cmd_backup(args: argparse.Namespace) -> int:
    """``backup`` (run the backup flow now), ``backup list`` or ``backup verify``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sigmasight.backup.errors import BackupError
    from sigmasight.objectstore import ObjectStoreError

    try:
        if args.action == "list":
            return _backup_list(args.all)
        require_current_schema()
        if args.action == "verify":
            from flows.backup_verify import verify_backup
            from sigmasight.runs.backup import recorded_backup

            one_line_failures()

            if args.key:
                recorded_backup(args.key)  # a wrong key is refused before Prefect starts

            return report_state(verify_backup(key=args.key, return_state=True), "backup-verify")
        if args.key:
            raise InputError("--key goes with `sigmasight backup verify`")
        from flows.backup import backup_database

        one_line_failures()

        return report_state(backup_database(return_state=True), "backup")
    except (BackupError, ObjectStoreError, BotoCoreError, ClientError) as exc:
        return _backup_failure(exc)


def _backup_list(include_deleted: bool) -> int:
    from sigmasight.objectstore import object_store
    from sigmasight.runs.backup import list_all

    settings = get_settings()
    store = object_store(settings)
    rows = list_all(settings, store=store, include_deleted=include_deleted)
    print(f"backups in {store.describe()}:")
    if not rows:
        print("  none yet: `sigmasight backup` takes one")
        return 0
    width = max(len(row.key) for row in rows)
    print(
        f"{'key':<{width}}  {'taken (UTC)':<16}  {'size':>10}  {'status':<10}  "
        f"{'verified (UTC)':<16}  in bucket"
    )
    for row in rows:
        size = f"{row.size_bytes / 2**20:,.1f} MiB" if row.size_bytes is not None else "-"
        taken = f"{row.taken_at:%Y-%m-%d %H:%M}" if row.taken_at else "-"
        verified = (
            f"{row.verified_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}" if row.verified_at else "-"
        )
        print(
            f"{row.key:<{width}}  {taken:<16}  {size:>10}  {row.status:<10}  {verified:<16}  "
            + ("yes" if row.stored else "no")
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup into a database after checking its sha256 against the manifest."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sigmasight.backup.errors import BackupError
    from sigmasight.backup.pgtools import parse_target_url, safe_url
    from sigmasight.objectstore import ObjectStoreError
    from sigmasight.runs.backup import restore_backup

    target = parse_target_url(args.target)
    print(f"restoring {args.key} into {safe_url(target)} ...", file=sys.stderr)
    try:
        outcome = restore_backup(get_settings(), args.key, target, overwrite=args.yes)
    except (BackupError, ObjectStoreError, BotoCoreError, ClientError) as exc:
        return _backup_failure(exc)
    print(
        f"restored {outcome.key} into {outcome.target}: {outcome.tables} tables, "
        f"{outcome.rows:,} rows; checksum and row counts match the manifest ({outcome.seconds:.1f} s)"
    )
    return 0


def cmd_s3(args: argparse.Namespace) -> int:
    """Where object storage is; ``stop`` stops the embedded S3 server."""
    from sigmasight.objectstore import EMBEDDED_BUCKET, running_embedded_s3, stop_embedded_s3

    settings = get_settings()
    if args.action == "stop":
        if settings.aws_s3_bucket:
            raise InputError("AWS_S3_BUCKET is set: object storage is external, nothing to stop")
        stopped = stop_embedded_s3(settings)
        print(
            "embedded S3 stopped (its objects are gone)"
            if stopped
            else "embedded S3 was not running"
        )
        return 0
    if settings.aws_s3_bucket:
        print(f"S3 bucket {settings.aws_s3_bucket} (AWS_S3_BUCKET; boto3's credential chain)")
        return 0
    server = running_embedded_s3(settings)
    if server is None:
        print("embedded S3 not running (the first backup or report starts it)")
    else:
        print(
            f"embedded S3 (moto) at {server.endpoint}, pid {server.pid}, bucket {EMBEDDED_BUCKET}; "
            "objects live as long as this process"
        )
    return 0


def register_backup(commands: Subparsers) -> None:
    """Add ``backup``."""
    backup = commands.add_parser(
        "backup",
        help="back the database up to S3 now; `list` the backups; `verify` one",
        description="Without ACTION: run the backup flow now (streamed pg_dump to S3 with a "
        "sha256 and a manifest, then retention). `list`: the backups and their status. "
        "`verify`: restore the newest completed backup (or --key) into a scratch database "
        "and compare it with its manifest.",
    )
    backup.add_argument(
        "action",
        nargs="?",
        choices=("list", "verify"),
        metavar="ACTION",
        help="list | verify (none: take a backup now)",
    )
    backup.add_argument("--all", action="store_true", help="list: include deleted backups")
    backup.add_argument("--key", help="verify: this backup instead of the newest")
    backup.set_defaults(handler=cmd_backup)


def register_restore(commands: Subparsers) -> None:
    """Add ``restore``."""
    restore = commands.add_parser(
        "restore",
        help="restore a backup into a database",
        description="Download a backup, check its sha256 against its manifest, pg_restore it "
        "into --target in one transaction and compare row counts with the manifest.",
    )
    restore.add_argument(
        "key", metavar="KEY", help="the backup's S3 key (`sigmasight backup list`)"
    )
    restore.add_argument(
        "--target",
        required=True,
        metavar="DATABASE_URL",
        help="database to restore into (must exist; password via the URL, PGPASSWORD or ~/.pgpass)",
    )
    restore.add_argument(
        "--yes",
        action="store_true",
        help="overwrite a non-empty target (its objects in the backup)",
    )
    restore.set_defaults(handler=cmd_restore)


def register_s3(commands: Subparsers) -> None:
    """Add ``s3``."""
    s3 = commands.add_parser("s3", help="object storage: status, stop the embedded S3")
    s3.add_argument(
        "action",
        nargs="?",
        choices=("status", "stop"),
        default="status",
        help="status (default) | stop",
    )
    s3.set_defaults(handler=cmd_s3)

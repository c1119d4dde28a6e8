"""The ``flask --app webapp …`` commands: ``restore`` an archive, ``create-user``.

The CLI's messages stay English: it is the operator's tool, not the household's.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

from .aws import error_code, error_reason
from .model import TABLES, TableName
from .web.context import get_clients, get_settings, services

if TYPE_CHECKING:
    from .archive.compare import TableDiff
    from .archive.reader import ArchiveReader
    from .archive.restore import RestoreRequest, TablePlan, TableRestore

#: A pragmatic shape check; Cognito itself has the last word on the address.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TEMPORARY_PASSWORD_LENGTH = 20
#: Symbols Cognito accepts in passwords, minus ones that are awkward to copy from a terminal.
SYMBOLS = "-_.!#%+="


def temporary_password(length: int = TEMPORARY_PASSWORD_LENGTH) -> str:
    """Return a random password with every character class a strict pool may require."""
    pools = (string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS)
    alphabet = "".join(pools)
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@click.command("create-user")
@click.argument("email")
@with_appcontext
def create_user_command(email: str) -> None:
    """Create a Cognito user for EMAIL with a temporary password."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .identity.cognito import create_user

    email = email.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    settings = get_settings()
    password = temporary_password()
    try:
        sub = create_user(
            get_clients().cognito,
            settings.cognito_user_pool_id,
            email,
            temporary_password=password,
        )
    except ClientError as exc:
        if error_code(exc) == "UsernameExistsException":
            raise click.ClickException(f"{email} already has an account") from exc
        raise click.ClickException(
            f"Cognito refused to create {email}: {error_reason(exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise click.ClickException(f"could not reach Cognito: {exc}") from exc
    click.echo(f"Created {email} (sub {sub}) in user pool {settings.cognito_user_pool_id}.")
    click.echo(f"Temporary password: {password}")
    click.echo("Give it to them privately; they choose their own password at first sign-in.")


@click.command("restore")
@click.argument(
    "archive_path",
    metavar="ARCHIVE.zip",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@click.option("--dry-run", is_flag=True, help="Verify the archive and count items; write nothing.")
@click.option(
    "--table",
    "table",
    type=click.Choice(TABLES),
    help="Restore only this table (default: both).",
)
@click.option(
    "--as-user",
    "as_user",
    metavar="SUB",
    help="Write the items as this user (a Cognito sub), e.g. a re-created account. "
    "Also restores an archive whose signature is missing or wrong, on your word.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Make the archive's period exactly the archive: also delete the items of that "
    "period the archive lacks (default: merge, keeping them).",
)
@click.option(
    "--check",
    "check",
    metavar="CODE",
    help="Write only if the archive and the tables are still what the --dry-run that printed "
    "CODE saw (and CODE is at most RESTORE_CHECK_MINUTES old).",
)
@with_appcontext
def restore(
    archive_path: Path,
    dry_run: bool,
    table: TableName | None,
    as_user: str | None,
    replace: bool,
    check: str | None,
) -> None:
    """Restore an archive's DynamoDB JSON into the tables, after verifying all of it."""
    # Imported here: every app (a Lambda container too) registers this command,
    # but only the CLI runs it.
    from .archive.errors import RestoreError, WriteError
    from .archive.reader import open_archive
    from .archive.restore import RestoreRequest, preview, restore_archive
    from .archive.state import check_code, same_code

    settings, clients = get_settings(), get_clients()
    request = RestoreRequest(replace=replace, only=[table] if table else None, as_user=as_user)
    try:
        expected = None if check is None else _fresh_check(check, settings.restore_check_minutes)
        with open_archive(archive_path) as reader:
            report = _RestoreReport(request, dry_run, _header(reader, as_user, dry_run))
            if dry_run:
                compared = preview(
                    reader, request, dynamodb=clients.dynamodb, tables=settings.data_tables
                )
                for plan, diff in compared:
                    report.planned(plan, diff)
                states = {plan.table: diff.state.to_dict() for plan, diff in compared}
                code = f"{int(time.time())}-{check_code(reader, states)}"
                click.echo(
                    f"Check code: {code} (restore exactly this with --check {code}, "
                    f"within {settings.restore_check_minutes} minutes)"
                )
            else:
                restore_archive(
                    reader,
                    request,
                    dynamodb=clients.dynamodb,
                    tables=settings.data_tables,
                    planned=report.planned,
                    writing=report.writing,
                    expected=None if expected is None else same_code(reader, expected),
                )
    except WriteError as exc:
        raise click.ClickException(str(exc)) from None
    except RestoreError as exc:
        raise click.ClickException(f"{exc}. Nothing was written.") from None
    if dry_run:
        click.echo("Dry run: nothing was written.")


def _fresh_check(check: str, minutes: int) -> str:
    """Return the digest part of a check code; refuse a malformed or old one."""
    from .archive.errors import RestoreError

    made, _, code = check.partition("-")
    if not made.isascii() or not made.isdigit() or not code:
        raise RestoreError(f"{check!r} is not a check code; run the restore with --dry-run")
    if time.time() - int(made) > minutes * 60:
        raise RestoreError(
            f"the check code is more than {minutes} minutes old; run the restore with "
            "--dry-run again"
        )
    return code


def _header(reader: ArchiveReader, as_user: str | None, dry_run: bool) -> list[str]:
    """Check the signature (or take ``--as-user``'s word); return the lines that say so."""
    from .archive.errors import RestoreError
    from .archive.signing import SignatureError

    manifest = reader.manifest
    try:
        reader.check_signature(services().keyring)
        signed = True
    except SignatureError as exc:
        if as_user is None:
            raise RestoreError(
                f"{exc}; if you know where it comes from, name the user to write it "
                "as with --as-user SUB"
            ) from None
        signed = False
    header = [
        f"Archive of user {manifest.user_sub}, {manifest.range_start} to "
        f"{manifest.range_end}, created {manifest.created_at}: verified"
        + (", signed." if signed else " (NOT signed by this installation).")
    ]
    if as_user is not None:
        header.append(f"Items {'would be' if dry_run else 'will be'} written as user {as_user}.")
    return header


@dataclass
class _RestoreReport:
    """What the restore command prints: the plan of each table, then a bar while it writes."""

    request: RestoreRequest
    dry_run: bool
    #: Printed once the archive is verified, before the first table's plan.
    header: list[str]

    def planned(self, plan: TablePlan, diff: TableDiff) -> None:
        """Print what restoring one table would do."""
        while self.header:
            click.echo(self.header.pop(0))
        mode, extra = ("replace", "deleted") if self.request.replace else ("merge", "kept")
        click.echo(
            f"{plan.table}: {diff.archived} in the archive: {diff.new} new, "
            f"{diff.changed} changed, {diff.unchanged} unchanged; {diff.extra} only in "
            f"the table {'would be ' if self.dry_run else 'to be '}{extra} ({mode})"
        )

    @contextmanager
    def writing(self, plan: TablePlan, done: TableRestore) -> Iterator[Callable[[int], None]]:
        """Show a progress bar while one table is written, then what was written."""
        label = f"{plan.table} -> {plan.target}"
        with click.progressbar(length=done.written + done.deleted, label=label) as bar:
            yield bar.update
        click.echo(
            f"{plan.table}: {done.written} written, {done.deleted} deleted, "
            f"{done.unchanged} unchanged in {plan.target}"
        )


@click.command("run-schedule")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Dispatch as if it were this day (YYYY-MM-DD); default: today in DISPLAY_TIMEZONE.",
)
@with_appcontext
def run_schedule_command(today: Any) -> None:
    """Queue the automatic backups that are due, as the daily schedule does."""
    from .jobs.dispatcher import run_schedule

    day = today.date() if today is not None else None
    done = run_schedule(services(), day)
    click.echo(f"Automatic backups: {len(done.queued)} queued, {len(done.skipped)} already queued.")


@click.command("rebuild")
@click.option("--dry-run", is_flag=True, help="Count what would be written; write nothing.")
@click.option("--user", "only", metavar="SUB", help="Only this user (default: every user).")
@with_appcontext
def rebuild_command(dry_run: bool, only: str | None) -> None:
    """Rebuild the tables after a loss: each user's newest backup plus the changes since."""
    from .rebuild import rebuild_all

    rebuilt = skipped = 0
    totals = dict.fromkeys(TABLES, 0)
    for done in rebuild_all(services(), dry_run=dry_run, only=only):
        if done.skipped:
            skipped += 1
            click.echo(f"{done.user}: skipped ({done.skipped})")
            continue
        rebuilt += 1
        counts = "; ".join(
            f"{table}: {done.written[table]} written, {done.unchanged[table]} unchanged, "
            f"{done.kept[table]} kept"
            for table in TABLES
        )
        click.echo(f"{done.user}: backup {done.backup} + {done.changes} changes -> {counts}")
        for table in TABLES:
            totals[table] += done.written[table]
    verb = "would be written" if dry_run else "written"
    click.echo(
        f"Rebuilt {rebuilt} users ({skipped} skipped): {totals['slips']} slips and "
        f"{totals['balances']} balances {verb}."
    )
    if dry_run:
        click.echo("Dry run: nothing was written.")

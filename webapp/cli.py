"""The ``flask --app webapp …`` commands: ``restore`` an archive, ``create-user``.

The CLI's messages stay English: it is the operator's tool, not the household's.
"""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path

import click
from flask.cli import with_appcontext

from .aws import error_code, error_reason
from .model import TABLES, TableName
from .web.context import get_clients, get_settings

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

    from .cognito import create_user

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
    help="Write the items as this user (a Cognito sub), e.g. a re-created account.",
)
@with_appcontext
def restore(
    archive_path: Path, dry_run: bool, table: TableName | None, as_user: str | None
) -> None:
    """Restore an archive's DynamoDB JSON into the tables, after verifying all of it."""
    # Imported here: every app (a Lambda container too) registers this command,
    # but only the CLI runs it.
    from .archive.restore import RestoreError, WriteError, open_archive, plan_restore, write_table

    settings = get_settings()
    dynamodb = get_clients().dynamodb
    targets: dict[TableName, str] = {
        "slips": settings.slips_table,
        "balances": settings.balances_table,
    }
    try:
        with open_archive(archive_path) as archive:
            manifest = archive.manifest
            plans = plan_restore(
                dynamodb=dynamodb,
                archive=archive,
                tables=targets,
                only=[table] if table else None,
                as_user=as_user,
            )
            click.echo(
                f"Archive of user {manifest.user_sub}, {manifest.range_start} to "
                f"{manifest.range_end}, created {manifest.created_at}: verified."
            )
            if as_user is not None:
                click.echo(
                    f"Items {'would be' if dry_run else 'will be'} written as user {as_user}."
                )
            for plan in plans:
                if dry_run:
                    click.echo(
                        f"{plan.table}: {plan.items} items would be written to {plan.target}"
                    )
                    continue
                label = f"{plan.table} -> {plan.target}"
                with click.progressbar(length=plan.items, label=label) as bar:
                    written = write_table(dynamodb, archive, plan, progress=bar.update)
                click.echo(f"{plan.table}: {written} items written to {plan.target}")
    except WriteError as exc:
        raise click.ClickException(str(exc)) from None
    except RestoreError as exc:
        raise click.ClickException(f"{exc}. Nothing was written.") from None
    if dry_run:
        click.echo("Dry run: nothing was written.")

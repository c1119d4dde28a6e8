"""``flask --app webapp restore ARCHIVE.zip``: put an archive back into the tables."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from .context import get_clients, get_settings
from .model import TABLES, TableName


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
    from .restore import RestoreError, WriteError, open_archive, plan_restore, write_table

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

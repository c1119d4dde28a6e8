"""``flask --app webapp create-user EMAIL``: give someone an account.

The user pool allows no self sign-up, so this is how accounts are made. The new
user gets a random temporary password, printed once here; Cognito makes them
choose their own at first sign-in.
"""

from __future__ import annotations

import re
import secrets
import string

import click
from botocore.exceptions import BotoCoreError, ClientError
from flask.cli import with_appcontext

from .context import get_clients, get_settings
from .provision import create_user

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
        error = exc.response.get("Error", {})
        if error.get("Code") == "UsernameExistsException":
            raise click.ClickException(f"{email} already has an account") from exc
        raise click.ClickException(
            f"Cognito refused to create {email}: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except BotoCoreError as exc:
        raise click.ClickException(f"could not reach Cognito: {exc}") from exc
    click.echo(f"Created {email} (sub {sub}) in user pool {settings.cognito_user_pool_id}.")
    click.echo(f"Temporary password: {password}")
    click.echo("Give it to them privately; they choose their own password at first sign-in.")

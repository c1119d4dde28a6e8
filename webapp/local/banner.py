"""What ``make run`` prints once it serves: the address, the demo users, the local AWS.

The README's local commands (``restore``, ``create-user``, ``run-schedule``) use
exactly these names and the environment lines printed last, which a second
terminal pastes as they are (``tests/local/test_readme_commands.py`` runs them).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from .demo import DEMO_PASSWORD

if TYPE_CHECKING:
    from .stack import LocalStack

#: The fake credentials every local client uses (moto accepts any).
FAKE_KEY_ID = "testing"
FAKE_SECRET = "testing"
#: The commands sign no session cookies, but the app wants a value.
UNUSED_SECRET_KEY = "unused"


def command_environment(stack: LocalStack) -> dict[str, str]:
    """Return the environment the ``flask --app webapp`` commands need for this stack."""
    settings = stack.settings
    return {
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        # The app reads AWS_REGION; boto3 itself and the AWS CLI read AWS_DEFAULT_REGION.
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "EXPORT_BUCKET": settings.export_bucket,
        "SLIPS_TABLE": settings.slips_table,
        "BALANCES_TABLE": settings.balances_table,
        "APP_TABLE": settings.app_table,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "COGNITO_USER_POOL_ID": settings.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": settings.cognito_client_id,
        # This run's archive key, so `restore` verifies the archives it signed.
        "ARCHIVE_KEY": str(settings.archive_key),
        "SECRET_KEY": UNUSED_SECRET_KEY,
    }


def banner(stack: LocalStack, url: str) -> list[str]:
    """Return the banner's lines: where everything runs and how to reach it."""
    settings = stack.settings
    environment = command_environment(stack)
    width = max((len(email) for email in stack.users), default=0)
    return [
        "",
        f"  Kakeibo Export is running at {url}",
        f"  Demo users (password {DEMO_PASSWORD}):",
        *(f"    {email.ljust(width)}  sub {sub}" for email, sub in stack.users.items()),
        "",
        f"  Local AWS (moto):  {settings.endpoint_url}",
        f"  Region:            {settings.region}",
        f"  User pool:         {settings.cognito_user_pool_id}",
        f"  App client:        {settings.cognito_client_id}",
        f"  Bucket:            {settings.export_bucket}",
        f"  Tables:            {settings.slips_table}, {settings.balances_table}, "
        f"{settings.app_table}",
        f"  Jobs queue:        {settings.jobs_queue_url}",
        "",
        "  For the flask commands in another terminal (README: Try the commands locally),",
        "  paste these lines first:",
        "",
        *(f"export {name}={shlex.quote(value)}" for name, value in environment.items()),
        "",
        "  Press Ctrl-C to stop.",
        "",
    ]

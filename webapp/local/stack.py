"""The local stack: an embedded moto server with what ``serverless.yml`` declares.

Nothing here touches real AWS: the credentials are fake and every client
points at moto on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..aws import Clients
from ..identity.cognito import create_user
from ..services import Services
from ..settings import Settings
from .demo import DEMO_PASSWORD, DEMO_USERS, demo_items, write_items
from .recorder import LocalRecorder
from .resources import (
    create_app_table,
    create_bucket,
    create_jobs_queue,
    create_table,
    create_user_pool,
)
from .worker import LocalWorker

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

REGION = "ap-northeast-1"
BUCKET = "kakeibo-export-local"
SLIPS_TABLE = "kakeibo-local-slips"
BALANCES_TABLE = "kakeibo-local-balances"
APP_TABLE = "kakeibo-local-app"
JOBS_QUEUE = "kakeibo-local-jobs"
POOL_NAME = "kakeibo-local"
#: The demo sender of backup mails (moto keeps them; nothing leaves the machine).
NOTIFY_FROM = "backups@kakeibo.example"
RETENTION_DAYS = 7
#: How long stopping waits for the worker thread after moto has stopped.
STOP_SECONDS = 0.5


@dataclass
class LocalStack:
    """A running moto server, the settings of the resources made on it, and the worker."""

    server: ThreadedMotoServer
    settings: Settings
    users: dict[str, str]  # email -> sub
    worker: LocalWorker | None = None
    recorder: LocalRecorder | None = None

    def stop(self) -> None:
        """Stop the worker and recorder threads and the moto server, within about a second."""
        if self.recorder is not None:
            self.recorder.stop(timeout=0)
        if self.worker is not None:
            self.worker.stop(timeout=0)  # ask it to stop; its poll ends when moto does
        self.server.stop()
        if self.worker is not None:
            # A job still running is abandoned: its record and archive live in
            # moto's memory, which goes with the process.
            self.worker.stop(timeout=STOP_SECONDS)
        if self.recorder is not None:
            self.recorder.stop(timeout=STOP_SECONDS)


def fake_credentials() -> None:
    """Point boto3 at fake credentials so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """Start moto's server in this process on a free port; return it and its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def provision(
    endpoint: str,
    *,
    retention_days: int = RETENTION_DAYS,
    clients: Clients | None = None,
    **overrides: object,
) -> Settings:
    """Create the bucket, tables, pool and client on ``endpoint``; return settings.

    ``clients`` (pointing at ``endpoint``) may serve many calls: the tests provision
    afresh for each test, and building the clients each time would cost more.
    """
    bootstrap = Settings(
        export_bucket=BUCKET,
        slips_table=SLIPS_TABLE,
        balances_table=BALANCES_TABLE,
        cognito_user_pool_id="pending",
        cognito_client_id="pending",
        region=REGION,
        app_table=APP_TABLE,
        jobs_queue_url="pending",
        endpoint_url=endpoint,
        local=True,
        retention_days=retention_days,
        # The local poller records a change within a second (bench/bench_changes.py).
        changes_settle_seconds=1,
    )
    clients = clients or Clients(bootstrap)
    create_bucket(clients.s3, BUCKET, REGION, retention_days)
    create_table(clients.dynamodb, SLIPS_TABLE)
    create_table(clients.dynamodb, BALANCES_TABLE)
    create_app_table(clients.dynamodb, APP_TABLE)
    queue = create_jobs_queue(clients.sqs, JOBS_QUEUE)
    pool = create_user_pool(clients.cognito, POOL_NAME)
    # The sender of the mail after an automatic backup, verified as SES requires.
    clients.ses.verify_email_identity(EmailAddress=NOTIFY_FROM)
    fields = {
        **bootstrap.__dict__,
        "jobs_queue_url": queue.url,
        "cognito_user_pool_id": pool.pool_id,
        "cognito_client_id": pool.client_id,
        "jwks_url": f"{endpoint}/{pool.pool_id}/.well-known/jwks.json",
        "secret_key": secrets.token_hex(32),
        "archive_key": secrets.token_hex(32),
        "notify_from": NOTIFY_FROM,
        **overrides,
    }
    return Settings(**fields)


def seed_demo(settings: Settings, today: date | None = None) -> dict[str, str]:
    """Create the demo users and their data; return email -> sub."""
    clients = Clients(settings)
    # "Today" where the user lives, so the data ends on the date the page shows.
    end = today or datetime.now(ZoneInfo(settings.display_timezone)).date()
    users: dict[str, str] = {}
    for email in DEMO_USERS:
        sub = create_user(clients.cognito, settings.cognito_user_pool_id, email, DEMO_PASSWORD)
        slips, balances = demo_items(sub, email, end)
        write_items(clients.dynamodb, settings.slips_table, slips)
        write_items(clients.dynamodb, settings.balances_table, balances)
        users[email] = sub
    return users


def start_stack(*, demo: bool = True, worker: bool = True) -> LocalStack:
    """Start moto, provision everything, load the demo data and start the job worker."""
    fake_credentials()
    server, endpoint = start_moto()
    try:
        settings = provision(endpoint)
        users = seed_demo(settings) if demo else {}
        poller = LocalWorker(Services(settings)) if worker else None
        if poller is not None:
            poller.start()
        # The demo data is loaded before the log starts: the log is complete from here.
        recorder = LocalRecorder(Services(settings)) if worker else None
        if recorder is not None:
            recorder.skip_to_latest()
            recorder.start()
    except BaseException:
        server.stop()
        raise
    return LocalStack(
        server=server, settings=settings, users=users, worker=poller, recorder=recorder
    )

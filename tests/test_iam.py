"""Each function's real flows run under the role the generated template gives it, IAM enforced.

A moto server of this module's own (``tests/iam_moto.py``, a separate process: moto's
IAM switch is global to a server) checks every request against the caller's role and
writes each check down. The roles are made from the CloudFormation template ``osls
package`` generates, statement by statement: S3 resources as the template names them
(moto checks S3 by action and ARN), every other resource widened to ``*`` (moto checks
DynamoDB, SQS, SSM, SES and Cognito by action only), the mail grant as when a sender
is set. Then, with credentials of the assumed role in the environment as Lambda gives
them:

- the web app's pages and forms (``WEB_FLOWS``), the worker's jobs of every kind
  (``WORKER_JOBS``: one line per kind) and the dispatcher's run must pass; a call the
  role does not grant fails that flow's test, naming the action and the resource;
- every action a role grants must be used by some flow, or be in ``UNUSED`` with the
  reason (least privilege both ways), and leaving out any one of them must deny a call
  the flows made (checked with moto's own policy evaluation on the recorded calls, and
  once for real per function).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import traceback
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from support import CSRF_FIELD, osls_package

from webapp.archive.dynamo import put_items
from webapp.archive.ids import UPLOAD_PREFIX
from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.jobs import backup, backup_now, export, preview, restore
from webapp.jobs.dispatcher import run_schedule
from webapp.jobs.job import Job, State
from webapp.jobs.kind import Kind, Params
from webapp.jobs.queue import JobMessage
from webapp.jobs.sources import RestoreSource
from webapp.local.demo import DEMO_PASSWORD
from webapp.local.stack import fake_credentials, provision
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
STAGE = "ci"
TODAY = date(2026, 12, 3)
PERIOD = (date(2026, 11, 1), date(2026, 11, 30))
EMAIL = "iam@example.com"
ROLES = ("WebRole", "WorkerRole", "DispatcherRole", "RecorderRole")

#: Granted actions no flow here uses, and why they are granted all the same.
UNUSED: dict[str, dict[str, str]] = {
    "WebRole": {
        "logs:CreateLogStream": "Lambda writes the function's log with the role, not our code",
        "logs:PutLogEvents": "Lambda writes the function's log with the role, not our code",
        "s3:PutObject": (
            "the browser's upload uses it through the presigned POST the web signs; moto "
            "cannot check a POST form upload (no Authorization header), so it goes unchecked"
        ),
    },
    "WorkerRole": {
        "logs:CreateLogStream": "Lambda writes the function's log with the role, not our code",
        "logs:PutLogEvents": "Lambda writes the function's log with the role, not our code",
        "s3:AbortMultipartUpload": (
            "only an archive of more than one 8 MiB part that fails or is cancelled aborts "
            "(tests/archive/test_upload.py); moto would need over 5 MiB of items here"
        ),
    },
    "DispatcherRole": {
        "logs:CreateLogStream": "Lambda writes the function's log with the role, not our code",
        "logs:PutLogEvents": "Lambda writes the function's log with the role, not our code",
    },
    "RecorderRole": {
        "logs:CreateLogStream": "Lambda writes the function's log with the role, not our code",
        "logs:PutLogEvents": "Lambda writes the function's log with the role, not our code",
        # The stream mappings read the tables' streams and hand the function the batch;
        # the queue mapping reads the dead-letter queue of given-up batches; a given-up
        # batch is sent there by the stream mapping, as the function's role.
        **dict.fromkeys(
            (
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ),
            "Lambda's event source mapping does this with the function's role; our code never does",
        ),
    },
}


# --- the stack: moto enforcing IAM, the resources, a role per function ------------------------


def _template(tmp: Path) -> dict[str, Any]:
    """Return the template ``osls package`` generates (with a stand-in zip if none is built)."""
    artifact = ROOT / "build" / "lambda.zip"
    if not artifact.exists():  # osls only checks that it is there; test_deploy builds it
        artifact.parent.mkdir(exist_ok=True)
        partial = artifact.with_suffix(".iam-tmp")
        with zipfile.ZipFile(partial, "w") as zf:
            zf.writestr("placeholder", "")
        os.replace(partial, artifact)
    return osls_package(ROOT / "build" / "sls-test-iam", stage=STAGE)


def _resolve(resource: Any, names: dict[str, str]) -> str:
    """Return a template resource as moto sees it: S3 by ARN, anything else ``*``."""
    if isinstance(resource, dict) and resource.get("Fn::GetAtt") == ["ExportBucket", "Arn"]:
        return names["bucket_arn"]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        if text.startswith("${ExportBucket.Arn}"):
            return text.replace("${ExportBucket.Arn}", names["bucket_arn"])
    return "*"


def role_policy(template: dict[str, Any], role: str, names: dict[str, str]) -> dict[str, Any]:
    """Return the role's policy from the template's own statements, resolved for moto."""
    statements = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                condition, granted, _ = statement["Fn::If"]
                assert condition == "NotifyEnabled", condition
                statement = granted  # a sender is set here
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            resolved = {
                "Effect": statement["Effect"],
                "Action": actions,
                "Resource": sorted({_resolve(r, names) for r in resources}),
            }
            if "Condition" in statement:
                resolved["Condition"] = statement["Condition"]
            statements.append(resolved)
    return {"Version": "2012-10-17", "Statement": statements}


class Ledger:
    """The checks the IAM-enforcing moto wrote down, one JSON line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def mark(self) -> int:
        return len(self.path.read_text().splitlines())

    def since(self, mark: int) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines()[mark:]]


@dataclass
class Stack:
    """The IAM-enforcing moto, what serverless.yml declares on it, and a role per function."""

    process: subprocess.Popen[str]
    endpoint: str
    ledger: Ledger
    settings: Settings
    template: dict[str, Any]
    names: dict[str, str]
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def admin(self) -> Clients:
        """Return clients with the test's own credentials (only while IAM is not enforced)."""
        return Clients(self.settings)

    def _auth(self, value: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=value.encode(),
            method="POST",
            # Not a form: moto reads the raw body as a number.
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request).close()

    @contextlib.contextmanager
    def enforcing(self) -> Iterator[None]:
        """Check every request against the caller's policies until the block ends."""
        self._auth("0")
        try:
            yield
        finally:
            self._auth("inf")

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        """Stop checking for the block (inside ``enforcing``)."""
        self._auth("inf")
        try:
            yield
        finally:
            self._auth("0")

    def make_role(self, role: str, policy: dict[str, Any], name: str | None = None) -> None:
        """Create (or overwrite) the IAM role ``name`` with ``policy``; assume it."""
        iam = self._client("iam")
        name = name or role
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName=role, PolicyDocument=json.dumps(policy))
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        found = self._client("sts").assume_role(RoleArn=arn, RoleSessionName="lambda")
        given = found["Credentials"]
        self.credentials[name] = {
            "AWS_ACCESS_KEY_ID": given["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": given["SecretAccessKey"],
            "AWS_SESSION_TOKEN": given["SessionToken"],
            "AWS_SECURITY_TOKEN": given["SessionToken"],
        }

    def _client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.settings.region, endpoint_url=self.endpoint)


@contextlib.contextmanager
def credentials_of(stack: Stack, role: str) -> Iterator[None]:
    """Put the role's credentials in the environment, as Lambda does for its function."""
    given = stack.credentials[role]
    saved = {name: os.environ.get(name) for name in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start(tmp: Path) -> tuple[subprocess.Popen[str], str, Ledger]:
    ledger = Ledger(tmp / "ledger.jsonl")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "iam_moto.py"), str(ledger.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(tmp / "moto.log", "w"),  # noqa: SIM115
        text=True,
    )
    assert process.stdout is not None
    endpoint = process.stdout.readline().strip()
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    return process, endpoint, ledger


def _provision(endpoint: str) -> Settings:
    settings = provision(
        endpoint,
        default_locale="en",
        max_active_jobs=10,
        max_jobs_per_day=100,
        backup_keep=1,
        site_url="https://kakeibo.example/",
    )
    ssm = Clients(settings).ssm
    secret, archive = f"/kakeibo-export/{STAGE}/secret-key", f"/kakeibo-export/{STAGE}/archive-key"
    ssm.put_parameter(Name=secret, Value="s" * 64, Type="SecureString")
    ssm.put_parameter(Name=archive, Value="a" * 64, Type="SecureString")
    # Both keys from SSM, as deployed: the functions read them with their own roles.
    return replace(
        settings,
        secret_key=None,
        secret_key_parameter=secret,
        archive_key=None,
        archive_key_parameter=archive,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start the IAM-enforcing moto, provision it, make each function's role from the template."""
    fake_credentials()  # the test's own, for setting up while IAM is not enforced
    tmp = tmp_path_factory.mktemp("iam")
    template = _template(tmp)
    process, endpoint, ledger = _start(tmp)
    try:
        settings = _provision(endpoint)
        names = {"bucket_arn": f"arn:aws:s3:::{settings.export_bucket}"}
        built = Stack(process, endpoint, ledger, settings, template, names)
        for role in ROLES:
            built.make_role(role, role_policy(template, role, names))
        yield built
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


# --- what the flows share -----------------------------------------------------------------------


@dataclass
class World:
    """The user, their data and what earlier flows made, for the later ones."""

    sub: str
    archive_id: str = ""
    backup_id: str = ""
    upload_token: str = ""
    not_a_zip_token: str = ""
    #: The stream batches Lambda would hand the recorder (read as the admin: the mapping's).
    stream_events: list[dict[str, Any]] = field(default_factory=list)
    client: Any = None
    worker: LocalWorker | None = None
    #: Job ids queued for the worker's flows, and of those that ended, by flow name.
    pending: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    #: Archive ids the worker's flows made, by flow name.
    made: dict[str, str] = field(default_factory=dict)
    #: The before-restore archive each restore job made, by flow name.
    undo: dict[str, str] = field(default_factory=dict)

    def before(self, name: str) -> RestoreSource:
        """Return the before-restore archive the restore job ``name`` made (what undo reads)."""
        return RestoreSource("archive", self.undo[name])

    def source(self, origin: str) -> RestoreSource:
        """Return the worker's export (``archive``) or the seeded upload to restore from."""
        if origin == "upload":
            return RestoreSource("upload", self.upload_token)
        return RestoreSource("archive", self.made["export"])


def _seed(stack: Stack) -> World:
    """Create the user and their data, and an archive and a backup (IAM not enforced)."""
    admin = stack.admin
    sub = create_user(admin.cognito, stack.settings.cognito_user_pool_id, EMAIL, DEMO_PASSWORD)
    slips = [
        {"user_id": {"S": sub}, "sk": {"S": f"2026-11-{n:02d}#{n:04d}"}, "amount": {"N": str(-n)}}
        for n in range(1, 11)
    ]
    put_items(admin.dynamodb, stack.settings.slips_table, slips)
    balance = {"user_id": {"S": sub}, "sk": {"S": "2026-11-30#cash"}, "balance": {"N": "9"}}
    put_items(admin.dynamodb, stack.settings.balances_table, [balance])
    world = World(sub=sub)
    services = Services(stack.settings, admin)
    from webapp.archive.dates import EVERYTHING, DateRange
    from webapp.archive.export import ExportRequest
    from webapp.archive.ids import BACKUP_PREFIX

    made = services.exporter.export(ExportRequest(sub, DateRange(*PERIOD)))
    world.archive_id = str(made.archive_id)
    services.exporter.export(ExportRequest(sub, DateRange(*PERIOD)))  # for "delete all"
    backed = services.exporter.export(ExportRequest(sub, EVERYTHING, prefix=BACKUP_PREFIX))
    world.backup_id = str(backed.archive_id)
    # An upload to restore from, as the browser would have posted it.
    world.upload_token = "0123456789abcdef0123456789abcdef"
    body = admin.s3.get_object(Bucket=stack.settings.export_bucket, Key=made.key)["Body"].read()
    admin.s3.put_object(
        Bucket=stack.settings.export_bucket,
        Key=f"{UPLOAD_PREFIX}{sub}/{world.upload_token}.zip",
        Body=body,
    )
    # And one that is no zip at all (a photo chosen by mistake), for the web to refuse.
    world.not_a_zip_token = "fedcba9876543210fedcba9876543210"
    admin.s3.put_object(
        Bucket=stack.settings.export_bucket,
        Key=f"{UPLOAD_PREFIX}{sub}/{world.not_a_zip_token}.zip",
        Body=b"\xff\xd8\xff\xe0 a photo",
    )
    return world


def _csrf(client: Any, path: str = "/") -> str:
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _post(client: Any, path: str, page: str = "/", **data: str) -> Any:
    return client.post(path, data={"csrf_token": _csrf(client, page), **data})


# --- the web function: its pages and forms ----------------------------------------------------


def web_sign_in_and_pages(stack: Stack, world: World) -> None:
    """Build the app (the session key from SSM), sign in with Cognito, show the pages."""
    client = _sign_in(stack, world)
    page = client.get("/")
    assert page.status_code == 200 and world.archive_id in page.get_data(as_text=True)
    assert client.get(f"/restore/archives/{world.archive_id}").status_code == 200
    assert client.get(f"/restore/backups/{world.backup_id}").status_code == 200


def _sign_in(stack: Stack, world: World) -> Any:
    """Build the app (the session key from SSM), fail to sign in once, then sign in."""
    from webapp import create_app

    app = create_app(stack.settings)
    app.config["TESTING"] = True
    client = world.client = app.test_client()
    wrong = client.post(
        "/login", data={"csrf_token": _csrf(client, "/login"), "email": EMAIL, "password": "x" * 12}
    )
    assert wrong.status_code == 401, wrong.status_code  # counted by the throttle
    signed = client.post(
        "/login",
        data={"csrf_token": _csrf(client, "/login"), "email": EMAIL, "password": DEMO_PASSWORD},
    )
    assert signed.status_code in (302, 303), signed.get_data(as_text=True)[:500]
    return client


def web_export_cancel_and_status(stack: Stack, world: World) -> None:
    """Start an export, read its status as the page's script does, cancel it."""
    client = world.client
    answer = _post(
        client,
        "/exports",
        start=PERIOD[0].isoformat(),
        end=PERIOD[1].isoformat(),
        formats="both",
        csv_encoding="utf-8",
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    job_id = answer.headers["Location"].split("job=")[1].split("&")[0].split("#")[0]
    assert client.get(f"/jobs/{job_id}").status_code == 200
    assert _post(client, f"/jobs/{job_id}/cancel").status_code == 303


def web_backups(stack: Stack, world: World) -> None:
    """Turn the automatic backup on, back up now, download a backup."""
    client = world.client
    assert _post(client, "/backups/setting", frequency="weekly").status_code == 303
    assert _post(client, "/backups/now").status_code == 303
    assert client.get(f"/backups/{world.backup_id}/download").status_code == 302


def web_downloads_and_deletes(stack: Stack, world: World) -> None:
    """Download an archive, delete it, delete all."""
    client = world.client
    assert client.get(f"/exports/{world.archive_id}").status_code == 302
    confirm = f"/exports/{world.archive_id}/delete"
    assert client.get(confirm).status_code == 200
    assert _post(client, confirm, page=confirm, confirm="yes").status_code == 303
    everything = "/exports/delete-all"
    assert _post(client, everything, page=everything, confirm="yes").status_code == 303
    assert world.archive_id not in client.get("/").get_data(as_text=True)


def _post_upload(page: str, body: bytes) -> None:
    """Send a file to S3 as the browser does with the page's presigned POST."""
    import html
    import re

    import requests

    form = re.search(r'<form method="post" action="([^"]+)" enctype="multipart/form-data">', page)
    assert form, "no upload form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    fields = {name: html.unescape(value) for name, value in fields.items()}
    answer = requests.post(
        html.unescape(form.group(1)),
        data=fields,
        files={"file": ("archive.zip", body, "application/zip")},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code in (200, 201, 204, 303), (answer.status_code, answer.text[:300])


def web_restore_pages(stack: Stack, world: World) -> None:
    """Offer an upload (presigned POST), take one back, refuse (delete) one that is no zip,
    queue its check, and a backup's."""
    client = world.client
    page = client.get("/restore/upload")
    assert page.status_code == 200
    with stack.relaxed():  # moto cannot check a POST form upload (see UNUSED)
        _post_upload(page.get_data(as_text=True), b"PK\x05\x06" + bytes(18))
    key = f"{UPLOAD_PREFIX}{world.sub}/{world.upload_token}.zip"
    assert client.get("/restore/uploaded", query_string={"key": key}).status_code == 200
    photo = f"{UPLOAD_PREFIX}{world.sub}/{world.not_a_zip_token}.zip"
    assert client.get("/restore/uploaded", query_string={"key": photo}).status_code == 400
    for source in (f"upload:{world.upload_token}", f"backup:{world.backup_id}"):
        answer = _post(client, "/restore/preview", page="/restore/upload", source=source)
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]


def web_password_rules_and_sign_out_everywhere(stack: Stack, world: World) -> None:
    """Refuse a weak new password with the pool's rules; sign out in every browser; reset."""
    client = world.client
    weak = client.post(
        "/login/reset",
        data={
            "csrf_token": _csrf(client, "/login/reset"),
            "email": EMAIL,
            "code": "123456",
            "password": "weakweakweak",
            "confirm": "weakweakweak",
        },
    )
    assert weak.status_code == 400
    assert _post(client, "/logout/everywhere").status_code == 303
    # A reset that takes (moto accepts any code) ends the account's sessions: it finds
    # the account's sub first (AdminGetUser).
    good = client.post(
        "/login/reset",
        data={
            "csrf_token": _csrf(client, "/login/reset"),
            "email": EMAIL,
            "code": "123456",
            "password": DEMO_PASSWORD,
            "confirm": DEMO_PASSWORD,
        },
    )
    assert good.status_code == 303, good.get_data(as_text=True)[:500]


WEB_FLOWS: list[Callable[[Stack, World], None]] = [
    web_sign_in_and_pages,
    web_export_cancel_and_status,
    web_backups,
    web_restore_pages,
    web_downloads_and_deletes,
    web_password_rules_and_sign_out_everywhere,
]


# --- the worker function: a job of each kind ---------------------------------------------------

#: Each kind of job the worker runs, with the parameters of one, from what earlier flows
#: made (``World.made``: archive ids by flow). One line per kind: "undo" joins here.
WORKER_JOBS: dict[str, Callable[[World], tuple[Kind[Any], Params]]] = {
    "export": lambda w: (export.KIND, export.ExportParams(*PERIOD)),
    "backup": lambda w: (backup.KIND, backup.BackupParams(day=TODAY)),
    "backup-now": lambda w: (backup_now.KIND, backup.BackupParams(day=TODAY)),
    "preview": lambda w: (preview.KIND, preview.PreviewParams(w.source("archive"))),
    "restore": lambda w: (restore.KIND, restore.RestoreParams(preview=w.done["preview"])),
    "preview-upload": lambda w: (preview.KIND, preview.PreviewParams(w.source("upload"))),
    "restore-upload": lambda w: (restore.KIND, restore.RestoreParams(w.done["preview-upload"])),
    "preview-undo": lambda w: (
        preview.KIND, preview.PreviewParams(w.before("restore-upload"), w.done["restore-upload"])
    ),
    "restore-undo": lambda w: (
        restore.KIND, restore.RestoreParams(w.done["preview-undo"], restore.REPLACE)
    ),
}  # fmt: skip


def _admin_services(stack: Stack) -> Services:
    return Services(stack.settings, stack.admin)


def _change_a_slip(stack: Stack, world: World) -> None:
    """Change one slip, so that restoring the archive writes it back."""
    slip = {"user_id": {"S": world.sub}, "sk": {"S": "2026-11-01#0001"}, "amount": {"N": "7"}}
    put_items(stack.admin.dynamodb, stack.settings.slips_table, [slip])


#: What a job's flow needs done first, IAM not enforced (before the check: a restore
#: refuses when the period changed after its check).
PREPARE: dict[str, Callable[[Stack, World], None]] = {
    "preview": _change_a_slip,
    "preview-upload": _change_a_slip,
}


def _empty_queue(services: Services) -> None:
    sqs, url = services.clients.sqs, services.settings.jobs_queue_url
    while waiting := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in waiting:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _queue_job(name: str) -> Callable[[Stack, World], None]:
    def prepare(stack: Stack, world: World) -> None:
        services = _admin_services(stack)
        _empty_queue(services)  # only this flow's job waits (the web's were the web's)
        if name in PREPARE:
            PREPARE[name](stack, world)
        kind, params = (WORKER_JOBS | LATER_JOBS)[name](world)
        job = Job.queued(world.sub, kind.name, params.to_dict(), datetime.now(UTC))
        services.jobs.create(job)
        if isinstance(params, restore.RestoreParams):  # the web claims the check first
            checked = services.jobs.get(world.sub, params.preview)
            assert checked is not None
            assert services.jobs.consume(checked, job.id, datetime.now(UTC)) is None
        services.queue.send(JobMessage(world.sub, job.id))
        world.pending[name] = job.id

    return prepare


def _run_job(name: str, expected: State = State.DONE) -> Callable[[Stack, World], None]:
    def run(stack: Stack, world: World) -> None:
        if world.worker is None:  # built under the worker's role, kept (a warm container)
            world.worker = LocalWorker(Services(stack.settings, source="worker"))
        world.worker.drain()
        job = _admin_services(stack).jobs.get(world.sub, world.pending[name])
        assert job is not None and job.state is expected, job and (job.state, job.error)
        world.done[name] = job.id
        if "archive_id" in job.result:
            world.made[name] = str(job.result["archive_id"])
        if "undo_archive_id" in job.result:
            world.undo[name] = str(job.result["undo_archive_id"])

    return run


def _prepare_damaged_export(stack: Stack, world: World) -> None:
    _queue_job("export")(stack, world)
    world.pending["export-damaged"] = world.pending.pop("export")


def worker_export_damaged(stack: Stack, world: World) -> None:
    """Run an export whose archive is spoilt after upload: read back, deleted, failed."""
    from support import damage_exports, truncate

    assert world.worker is not None
    services = world.worker.worker.services
    assert isinstance(services, Services)
    kept = services.exporter
    damage_exports(services, truncate)
    try:
        _run_job("export-damaged", State.FAILED)(stack, world)
    finally:
        services.exporter = kept  # type: ignore[misc]


# --- the dispatcher function -----------------------------------------------------------------


def _prepare_dispatch(stack: Stack, world: World) -> None:
    """Make a second user due and overdue, with a last job to look at."""
    prefs = _admin_services(stack).backup_prefs
    prefs.choose("due-user", "weekly", today=date(2026, 11, 1), email="due@example.com")
    done = {"at": "2026-11-01T00:00:00+00:00", "state": "done"}
    prefs.record("due-user", done, next_run=date(2026, 11, 8))
    prefs.dispatched("due-user", "20261101T000000Z-backup")


def dispatcher_run(stack: Stack, world: World) -> None:
    """Run the day's dispatch under the dispatcher's role: queue, note, mail the overdue."""
    ran = run_schedule(Services(stack.settings, source="dispatcher"))
    assert "due-user" in ran.queued and ran.overdue == ["due-user"]


# --- the recorder function, and what reads its change log ------------------------------------


def _prepare_recording(stack: Stack, world: World) -> None:
    """Read both streams as Lambda's mappings would (IAM not enforced: the mapping's)."""
    from webapp.local.recorder import stream_event, streams_client

    admin = _admin_services(stack)
    now = datetime.now(UTC)
    for name, table in stack.settings.data_tables.items():
        admin.recorder.log.mark_since(name, 0, now)  # complete from the start
        arn = admin.clients.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        streams = streams_client(stack.settings)
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
            if records:
                world.stream_events.append(stream_event(records, arn, stack.settings.region))
    assert world.stream_events, "no change reached the streams"


def recorder_records(stack: Stack, world: World) -> None:
    """Record every change the flows made, and a batch given up on (a gap), as the recorder."""
    from webapp.local.recorder import dead_letter_event

    recorder = Services(stack.settings, source="recorder").recorder
    for event in world.stream_events:
        assert recorder.handle(event) == {"batchItemFailures": []}
    first = world.stream_events[0]["Records"][:1]
    lost = [{**record, "dynamodb": dict(record["dynamodb"])} for record in first]
    gap = dead_letter_event(lost, first[0]["eventSourceARN"], "shard-1", "RecordAgeExceeded")
    assert recorder.handle(gap) == {"batchItemFailures": []}


def web_moments_page(stack: Stack, world: World) -> None:
    """Sign in again (the reset ended every session), show the recent changes."""
    client = _sign_in(stack, world)
    page = client.get("/restore/moments")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: Jobs that need the change log recorded first (they run after the recorder's flow).
LATER_JOBS: dict[str, Callable[[World], tuple[Kind[Any], Params]]] = {
    "preview-moment": lambda w: (
        preview.KIND,
        preview.PreviewParams(
            RestoreSource(
                "moment", "ab" * 16, at=datetime.now(UTC).isoformat(timespec="milliseconds")
            )
        ),
    ),
}


# --- the flows, in order -------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """One function's flow: run with its role's credentials, IAM enforced."""

    name: str
    role: str
    run: Callable[[Stack, World], None]
    #: Done first, IAM not enforced: queue the job, change an item.
    prepare: Callable[[Stack, World], None] | None = None


FLOWS: list[Flow] = [
    *(Flow(flow.__name__, "WebRole", flow) for flow in WEB_FLOWS),
    *(
        Flow(f"worker {name}", "WorkerRole", _run_job(name), _queue_job(name))
        for name in WORKER_JOBS
    ),
    Flow("worker export-damaged", "WorkerRole", worker_export_damaged, _prepare_damaged_export),
    Flow("recorder records", "RecorderRole", recorder_records, _prepare_recording),
    Flow("web_moments_page", "WebRole", web_moments_page),
    *(
        Flow(f"worker {name}", "WorkerRole", _run_job(name), _queue_job(name))
        for name in LATER_JOBS
    ),
    Flow("dispatcher run", "DispatcherRole", dispatcher_run, _prepare_dispatch),
]


@dataclass
class Run:
    """What one flow did: the checks moto made, and the error it ended with, if any."""

    role: str
    checks: list[dict[str, Any]]
    error: str | None = None

    def denied(self) -> list[str]:
        return [
            f"{self.role} lacks {c['action']} on {c['resource']}"
            for c in self.checks
            if not c["allowed"]
        ]


def run_flow(stack: Stack, world: World, flow: Flow, role: str | None = None) -> Run:
    """Run ``flow`` under ``role`` (its own unless given) with IAM enforced; record it."""
    run = Run(role or flow.role, [])
    if flow.prepare is not None:
        try:
            flow.prepare(stack, world)
        except Exception:  # an earlier flow it builds on failed: say so, run the rest
            run.error = "could not prepare: " + traceback.format_exc()
            return run
    mark = stack.ledger.mark()
    with credentials_of(stack, run.role), stack.enforcing():
        try:
            flow.run(stack, world)
        except Exception:
            run.error = traceback.format_exc()
    run.checks = stack.ledger.since(mark)
    return run


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    return _seed(stack)


@pytest.fixture(scope="module")
def runs(stack: Stack, world: World) -> dict[str, Run]:
    """Run every flow once, in order, each under its function's role."""
    return {flow.name: run_flow(stack, world, flow) for flow in FLOWS}


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [flow.name for flow in FLOWS])
def test_the_flow_runs_under_its_functions_role(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert run.denied() == [], "\n".join(run.denied())
    assert run.error is None, run.error
    assert run.checks, "no request was checked: IAM was not enforced"
    who = {c["principal"].split("/")[1] for c in run.checks}
    assert who == {run.role}


def _grants(stack: Stack, role: str) -> list[tuple[int, str, str]]:
    """Return every (statement, action, resource) the role's policy grants."""
    policy = role_policy(stack.template, role, stack.names)
    return [
        (index, action, resource)
        for index, statement in enumerate(policy["Statement"])
        for action in statement["Action"]
        for resource in statement["Resource"]
    ]


def _matches(pattern: str, value: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(value, pattern)


def _allowed(runs: dict[str, Run], role: str) -> list[dict[str, Any]]:
    return [c for run in runs.values() if run.role == role for c in run.checks if c["allowed"]]


@pytest.mark.parametrize("role", ROLES)
def test_every_action_a_role_grants_is_used_or_explained(
    stack: Stack, runs: dict[str, Run], role: str
) -> None:
    used = _allowed(runs, role)
    unused = sorted(
        {
            f"{action} on {resource}"
            for _, action, resource in _grants(stack, role)
            if not any(c["action"] == action and _matches(resource, c["resource"]) for c in used)
        }
    )
    explained = UNUSED[role]
    unexplained = [g for g in unused if g.split(" on ")[0] not in explained]
    assert unexplained == [], f"{role} grants what no flow uses: {unexplained}"
    stale = sorted(a for a in explained if not any(g.startswith(f"{a} on ") for g in unused))
    assert stale == [], f"{role}: used after all, drop from UNUSED: {stale}"


@pytest.mark.parametrize("role", ROLES)
def test_leaving_out_any_granted_action_denies_a_call_the_flows_made(
    stack: Stack, runs: dict[str, Run], role: str
) -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    policy = role_policy(stack.template, role, stack.names)
    calls = _allowed(runs, role)
    harmless = []
    for action in sorted({a for s in policy["Statement"] for a in s["Action"]}):
        if action in UNUSED[role]:
            continue
        reduced = copy.deepcopy(policy)
        for statement in reduced["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != action]
        reduced["Statement"] = [s for s in reduced["Statement"] if s["Action"]]
        evaluated = IAMPolicy(json.dumps(reduced))
        if all(
            evaluated.is_action_permitted(c["action"], c["resource"]) == PermissionResult.PERMITTED
            for c in calls
        ):
            harmless.append(action)
    assert harmless == [], f"{role} could do without {harmless}"


@pytest.mark.parametrize("role", ROLES)
def test_bucket_listings_keep_to_the_prefixes_the_role_names(
    stack: Stack, runs: dict[str, Run], role: str
) -> None:
    policy = role_policy(stack.template, role, stack.names)
    allowed = [
        pattern
        for statement in policy["Statement"]
        if "s3:ListBucket" in statement["Action"]
        for patterns in [statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")]
        for pattern in (patterns if isinstance(patterns, list) else [patterns])
    ]
    listings = [c for c in _allowed(runs, role) if c["action"] == "s3:ListBucket"]
    for listing in listings:
        # moto leaves s3:prefix conditions to us: each listing must fall under one.
        assert any(_matches(p, listing["prefix"] or "") for p in allowed), listing


#: One action taken away from each function's role, and the flow that must then fail.
TAKEN_AWAY = [
    ("WebRole", "sqs:SendMessage", "web_export_cancel_and_status"),
    ("WorkerRole", "s3:PutObject", "worker export"),
    ("DispatcherRole", "dynamodb:Query", "dispatcher run"),
]


@pytest.mark.parametrize(("role", "action", "name"), TAKEN_AWAY)
def test_a_role_without_one_action_fails_its_flow_naming_the_action(
    stack: Stack, world: World, runs: dict[str, Run], role: str, action: str, name: str
) -> None:
    policy = role_policy(stack.template, role, stack.names)
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
    reduced = f"{role}-without-{action.replace(':', '-')}"
    stack.make_role(role, policy, name=reduced)
    flow = next(f for f in FLOWS if f.name == name)
    world.worker = None  # a worker container of the reduced role
    if role == "WebRole":  # the web app of the reduced role, signed in
        signed = run_flow(stack, world, Flow("sign in", role, _sign_in), role=reduced)
        assert signed.error is None, signed.error

    try:
        run = run_flow(stack, world, flow, role=reduced)
    finally:
        world.worker = None

    assert any(action in line for line in run.denied()), run.denied()
    assert run.denied()[0].startswith(f"{reduced} lacks {action} on ")

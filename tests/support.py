"""Test helpers shared by several test modules (not fixtures: those live in conftest)."""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from botocore.exceptions import ClientError
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webapp.aws import Clients
from webapp.identity.cognito import Failure
from webapp.local.demo import DEMO_PASSWORD
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.views import MESSAGES

#: Settings whose AWS is never reached: every Cognito call made with them is
#: stubbed, and the endpoint is a closed local port so nothing leaks out.
OFFLINE = Settings(
    export_bucket="bucket",
    slips_table="slips",
    balances_table="balances",
    cognito_user_pool_id="ap-northeast-1_offline",
    cognito_client_id="offline-client",
    region="ap-northeast-1",
    app_table="app",
    jobs_queue_url="http://127.0.0.1:9/queue/jobs",
    endpoint_url="http://127.0.0.1:9",
    jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
    secret_key="offline-secret-key",
    local=True,
    default_locale="en",
)


def message(failure: Failure, **fields: str) -> str:
    """Return the sign-in page's message for ``failure``."""
    return str(MESSAGES[failure][0]) % fields


def text(response: TestResponse) -> str:
    """Return the page as the browser shows it (HTML entities undone)."""
    return html.unescape(response.get_data(as_text=True))


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Return what the session cookie holds, read the way anyone holding it could."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data: dict[str, Any] = serializer.loads(cookie.value)
    return data


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*\bvalue="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """Fetch ``path`` and return the CSRF token of its form."""
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class AuthActions:
    """Sign in and out through the real pages, as a browser would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf_token(self, path: str = "/login") -> str:
        """Fetch ``path`` and return the CSRF token of its form."""
        return csrf_token(self.client, path)

    def login(
        self,
        email: str = "alice@example.com",
        password: str = DEMO_PASSWORD,
        next: str | None = None,
    ) -> TestResponse:
        """Submit the sign-in form (``next`` goes in its query string)."""
        return self.client.post(
            "/login",
            query_string={} if next is None else {"next": next},
            data={"csrf_token": self.csrf_token(), "email": email, "password": password},
        )

    def logout(self) -> TestResponse:
        """Press "Sign out" on the start page."""
        return self.client.post("/logout", data={"csrf_token": self.csrf_token("/")})


HOST = "abcdef1234.execute-api.ap-northeast-1.amazonaws.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) kakeibo-tests"


def make_v2_event(
    *,
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """Return an API Gateway HTTP API payload 2.0 event as the `$default` route sends it."""
    now = time.time()
    all_headers = {
        "accept": "text/html,application/xhtml+xml",
        "accept-encoding": "gzip, deflate, br",
        "host": HOST,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": HOST.split(".", 1)[0],
            "domainName": HOST,
            "domainPrefix": HOST.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": USER_AGENT,
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        all_headers["content-length"] = str(len(body))
        # HTTP APIs hand form posts over base64-encoded.
        event["isBase64Encoded"] = base64_body
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    return event


def require_tool(name: str) -> str:
    """Return a system tool's path; skip without it, but never skip in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"{name} is not installed")
    return path


class Spy:
    """Forward calls to a real client, record them, and fail chosen calls.

    ``fail={"upload_part": 2}`` raises a ClientError instead of the second
    ``upload_part`` call; the real client never sees it.
    """

    def __init__(
        self, client: Any, fail: dict[str, int] | None = None, code: str = "InternalError"
    ) -> None:
        self._client = client
        self._fail = fail or {}
        self._code = code
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                # A part's body is a stream; its size is in ContentLength.
                seen = {k: v for k, v in kwargs.items() if k != "Body"}
                self.calls.append((name, seen))
                count = sum(1 for called, _ in self.calls if called == name)
            if self._fail.get(name) == count:
                error = {"Error": {"Code": self._code, "Message": "injected failure"}}
                raise ClientError(error, name)  # type: ignore[arg-type]
            return method(**kwargs)

        return call


def leftovers(clients: Clients, settings: Settings) -> tuple[list[str], list[str]]:
    """Return the keys of every object and every unfinished multipart upload."""
    objects = clients.s3.list_objects_v2(Bucket=settings.export_bucket).get("Contents", [])
    uploads = clients.s3.list_multipart_uploads(Bucket=settings.export_bucket).get("Uploads", [])
    return [o["Key"] for o in objects], [u["Key"] for u in uploads]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRun:
    """``python -m webapp.local`` (what ``make run`` runs) in a subprocess on a free port."""

    def __init__(self, log: Any, *, start_timeout: float = 90.0) -> None:
        import subprocess
        import sys
        from pathlib import Path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log)
        self.start_timeout = start_timeout
        env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp.local"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Return what it has printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_serving(self) -> None:
        """Poll /healthz until it answers 200; fail with the output if it never does."""
        import urllib.request

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"python -m webapp.local exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.kill()
        pytest.fail(f"python -m webapp.local did not serve in time:\n{self.output()}")

    def terminate(self, timeout: float) -> float | None:
        """Send SIGTERM; return the seconds until it exited, or None if it outlived ``timeout``."""
        import signal
        import subprocess

        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def kill(self) -> None:
        """Make sure it is gone (SIGKILL if it still runs)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def totp_code(secret: str, offset: int = 0) -> str:
    """Return an authenticator app's RFC 6238 code for ``secret`` (``offset`` steps away)."""
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    # moto checks the current 30-second step only: avoid its last seconds.
    if 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.1)
    padded = "".join(secret.split()).upper() + "=" * (-len("".join(secret.split())) % 8)
    totp = TOTP(base64.b32decode(padded), 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(time.time() + 30 * offset).decode()


def reset_codes(app: Flask) -> list[str]:
    """Collect the password-reset codes Cognito would mail, as the app asks for them.

    moto hands the code back in a response header instead of sending mail; this
    listens on the app's own Cognito client (botocore's public event hooks).
    """
    codes: list[str] = []
    clients: Clients = app.extensions["kakeibo.services"].clients

    def keep(http_response: Any, **_: Any) -> None:
        code = http_response.headers.get("x-moto-forgot-password-confirmation-code")
        if code:
            codes.append(code)

    clients.cognito.meta.events.register("after-call.cognito-idp.ForgotPassword", keep)
    return codes


#: Which of an export's settings belong to the engine (``Exporter``), the request
#: (``ExportRequest``) or the one call (``Exporter.export``).
_EXPORTER = {"dynamodb", "tables", "s3", "bucket", "signing_key", "part_size", "page_limit"}
_CALL = {"progress", "before_finish", "now"}


def run_export(**arguments: Any) -> Any:
    """Run the export engine with its settings given flat, as the tests list them.

    ``date_range`` is the request's ``period``; everything else keeps its name.
    """
    from webapp.archive.export import Exporter, ExportRequest

    if "date_range" in arguments:
        arguments["period"] = arguments.pop("date_range")
    if "formats" in arguments:
        arguments["formats"] = frozenset(arguments["formats"])
    if arguments.get("filters") is None:
        arguments.pop("filters", None)
    engine = {k: v for k, v in arguments.items() if k in _EXPORTER}
    call = {k: v for k, v in arguments.items() if k in _CALL}
    request = {k: v for k, v in arguments.items() if k not in _EXPORTER | _CALL}
    return Exporter(**engine).export(ExportRequest(**request), **call)


def truncate(body: bytes) -> bytes:
    """Return the first half of ``body`` (a damage for ``damage_exports``)."""
    return body[: len(body) // 2]


class Damaging:
    """The export engine's S3 client, which spoils each archive just after it is stored."""

    def __init__(self, s3: Any, damage: Callable[[bytes], bytes]) -> None:
        self._s3 = s3
        self._damage = damage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        answer = self._s3.put_object(**kwargs)
        self._spoil(kwargs["Bucket"], kwargs["Key"])
        return answer

    def complete_multipart_upload(self, **kwargs: Any) -> Any:
        answer = self._s3.complete_multipart_upload(**kwargs)
        self._spoil(kwargs["Bucket"], kwargs["Key"])
        return answer

    def _spoil(self, bucket: str, key: str) -> None:
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        self._s3.put_object(Bucket=bucket, Key=key, Body=self._damage(body))


def damage_exports(services: Services, damage: Callable[[bytes], bytes]) -> None:
    """Make ``services``' export engine spoil each archive just after storing it."""
    from webapp.archive.export import Exporter

    settings = services.settings
    services.exporter = Exporter(  # type: ignore[misc]
        services.clients.dynamodb,
        settings.data_tables,
        Damaging(services.clients.s3, damage),
        settings.export_bucket,
        signing_key=services.keyring.current(),
    )


def require(available: bool, reason: str) -> None:
    """Skip when a system tool is missing; under CI=true, fail instead."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this check must run)")
    pytest.skip(reason)


#: The deploy tool (``npm ci``) and the Node.js it needs.
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
OSLS = ROOT / "node_modules" / ".bin" / "osls"
MIN_NODE = (20, 19)


def _node_version() -> tuple[int, ...] | None:
    import subprocess

    node = shutil.which("node")
    if not node:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    return tuple(int(part) for part in out.strip().lstrip("v").split(".")[:2])


def osls_package(out: Any, *params: str, stage: str = "ci") -> dict[str, Any]:
    """Run ``osls package`` offline into ``out``; return the CloudFormation template.

    It needs ``build/lambda.zip`` to exist (serverless.yml deploys it as it is).
    """
    import json
    import subprocess

    version = _node_version()
    require(version is not None, "Node.js is not installed (osls needs >= 20.19)")
    assert version
    require(version >= MIN_NODE, f"Node.js {version} is older than 20.19, which osls needs")
    require(OSLS.exists(), "osls is not installed: run `npm ci` (make test does)")
    env = {
        **os.environ,
        # Dummy credentials: packaging must not need an account, and cannot use one.
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    shutil.rmtree(out, ignore_errors=True)
    result = subprocess.run(
        [str(OSLS), "package", "--stage", stage, "--package", str(out), *params],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template: dict[str, Any] = json.loads(
        (ROOT.joinpath(out) / "cloudformation-template-update-stack.json").read_text()
    )
    return template


def property_settings(examples: int) -> Any:
    """Return hypothesis settings for a property test: a bounded count, no saved examples.

    With ``@seed(SEED)`` beside it, ``make test`` runs the very same inputs every time.
    """
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        # Fixtures (moto, the app) are shared by the examples on purpose: each example
        # is one more request or event against the same deployment.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


#: The seed of every property test.
SEED = 24


class Tally:
    """Count a property test's generated inputs and those answered by us, for the report.

    Each family's counts land in ``test-artifacts/property-counts.json``.
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self.ran = 0
        self.answered = 0

    def write(self) -> None:
        """Merge this family's counts into the report file."""
        import json
        from pathlib import Path

        path = Path(__file__).resolve().parent.parent / "test-artifacts" / "property-counts.json"
        path.parent.mkdir(exist_ok=True)
        counts = json.loads(path.read_text()) if path.exists() else {}
        counts[self.family] = {"generated": self.ran, "answered_by_us": self.answered}
        path.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Make moto's DynamoDB writes atomic, as DynamoDB's own are, for burst tests.

    DynamoDB checks a write's condition and applies the write as one step. moto 5.2
    does it in two without a lock, so parallel requests to its threaded server can
    both pass a condition only one should (measured: 1 burst in 40 let 6 of 30
    conditional increments through a limit of 5). The burst tests hold moto to
    DynamoDB's promise by serialising its writes; reads are left alone.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = ("put_item", "update_item", "delete_item", "transact_write_items")
    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def locked(original: Any) -> Any:
        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(*args, **kwargs)

        return call

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


def burst(count: int, request: Callable[[int], Any]) -> list[Any]:
    """Run ``request(i)`` for i in range(count) in as many threads, released together."""
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Barrier(count)

    def go(index: int) -> Any:
        gate.wait()
        return request(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))

"""The Lambda entry point in this interpreter: SSM secret, start-up, API Gateway events.

``tests/test_deploy.py`` drives the same handler from the built zip under CPython 3.12.
"""

from __future__ import annotations

import base64
import importlib
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from botocore.stub import Stubber
from support import make_v2_event

from webapp import create_app
from webapp.aws import Clients
from webapp.secret_key import read_secret_key
from webapp.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
PARAMETER = "/kakeibo-export/test/secret-key"


def _put_secret(clients: Clients, value: str, kind: str = "SecureString") -> None:
    clients.ssm.put_parameter(Name=PARAMETER, Value=value, Type=kind, Overwrite=True)  # type: ignore[arg-type]


def _from_ssm(settings: Settings) -> Settings:
    """Return ``settings`` as a deployment has them: the key's parameter, not the key."""
    fields = {**settings.__dict__, "secret_key": None, "secret_key_parameter": PARAMETER}
    fields.update(local=False, jwks_url=None)
    return Settings(**fields)


def test_create_app_reads_the_secret_key_from_ssm(settings: Settings, clients: Clients) -> None:
    key = secrets.token_hex(32)
    _put_secret(clients, key)

    app = create_app(_from_ssm(settings))

    assert app.secret_key == key
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (None, "SecureString", "ParameterNotFound"),
        ("x" * 64, "String", "must be a SecureString"),
        ("short-key", "SecureString", "at least 32 characters"),
    ],
)
def test_create_app_stops_when_the_secret_is_unusable(
    settings: Settings, clients: Clients, value: str | None, kind: str, message: str
) -> None:
    if value is not None:
        _put_secret(clients, value, kind)

    with pytest.raises(ConfigError) as excinfo:
        create_app(_from_ssm(settings))

    assert message in str(excinfo.value)
    assert PARAMETER in str(excinfo.value)


def test_secret_read_failure_names_the_refusal(settings: Settings) -> None:
    deployed = _from_ssm(settings)
    clients = Clients(deployed)
    with Stubber(clients.ssm) as stub:
        stub.add_client_error(
            "get_parameter",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: ssm:GetParameter",
        )
        with pytest.raises(ConfigError, match="AccessDeniedException: not authorized"):
            read_secret_key(deployed, clients)


@pytest.fixture
def lambda_env(
    settings: Settings, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Set the environment serverless.yml gives the function; yield the secret key."""
    key = secrets.token_hex(32)
    _put_secret(clients, key)
    for name, value in {
        "EXPORT_BUCKET": settings.export_bucket,
        "SLIPS_TABLE": settings.slips_table,
        "BALANCES_TABLE": settings.balances_table,
        "COGNITO_USER_POOL_ID": settings.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": settings.cognito_client_id,
        "APP_TABLE": settings.app_table,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "AWS_REGION": settings.region,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "SECRET_KEY_PARAMETER": PARAMETER,
        "ARCHIVE_KEY_PARAMETER": "/kakeibo/dev/archive-key",
        "EXPORT_RETENTION_DAYS": "7",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    sys.modules.pop("webapp.lambda_handler", None)
    yield key
    sys.modules.pop("webapp.lambda_handler", None)


def _import_handler() -> ModuleType:
    return importlib.import_module("webapp.lambda_handler")


def test_handler_reads_the_secret_once_per_container(lambda_env: str, clients: Clients) -> None:
    entry = _import_handler()
    assert entry.app.secret_key == lambda_env
    app_clients: Clients = entry.app.extensions["kakeibo.services"].clients
    reads: list[str] = []
    app_clients.ssm.meta.events.register(
        "before-call.ssm.GetParameter", lambda **kwargs: reads.append("read")
    )
    # A rotated parameter reaches new containers only: warm ones keep their key.
    _put_secret(clients, secrets.token_hex(32))

    for _ in range(3):
        assert entry.handler(make_v2_event(path="/healthz"), None)["statusCode"] == 200

    assert reads == []
    assert entry.app.secret_key == lambda_env
    # The hook does see a read when one happens.
    read_secret_key(entry.app.extensions["kakeibo.services"].settings, app_clients)
    assert reads == ["read"]


def test_handler_fails_at_import_when_a_setting_is_missing(
    lambda_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COGNITO_CLIENT_ID")

    with pytest.raises(ConfigError, match="missing required setting.*COGNITO_CLIENT_ID"):
        _import_handler()


def test_handler_answers_http_api_events(lambda_env: str) -> None:
    entry = _import_handler()

    health = entry.handler(make_v2_event(path="/healthz"), None)
    icon = entry.handler(make_v2_event(path="/static/favicon.svg"), None)
    private = entry.handler(make_v2_event(path="/", query="tab=1"), None)

    assert health["statusCode"] == 200
    assert health["isBase64Encoded"] is False
    assert health["body"].replace(" ", "") == '{"status":"ok"}\n'
    assert icon["statusCode"] == 200
    assert icon["isBase64Encoded"] is True
    assert base64.b64decode(icon["body"]) == (ROOT / "static" / "favicon.svg").read_bytes()
    assert private["statusCode"] == 302
    assert private["headers"]["location"].startswith("/login?next=")


def test_handler_answers_a_malformed_event_with_our_400(lambda_env: str) -> None:
    entry = _import_handler()
    event = make_v2_event(path="/healthz")
    del event["requestContext"]["http"]

    response = entry.handler(event, None)

    assert response["statusCode"] == 400
    assert response["headers"]["x-frame-options"] == "DENY"
    assert response["headers"]["cache-control"] == "no-store"

"""The one place that builds boto3 clients; everything else receives them.

Also the one reader of botocore's error shape (``error_code``, ``error_reason``).
It imports neither Flask nor click, so the core may use it.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

    from .settings import Settings

#: Every AWS service the functions call, by the ``Clients`` attribute that holds its
#: client. ``Clients`` builds only these, and the Lambda zip carries botocore's models
#: for exactly these (``.ci/package_lambda.py``): a new client is one line here.
SERVICES: Final[dict[str, str]] = {
    "s3": "s3",
    "dynamodb": "dynamodb",
    "cognito": "cognito-idp",
    "sqs": "sqs",
    "ses": "ses",
    "ssm": "ssm",
}


class Clients:
    """boto3 clients for one deployment, built on first use and then reused.

    Lambda keeps the object across warm invocations, so each client (≈80 ms for
    the first, 10–15 ms after) is built once per container.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A boto3 Session is not thread-safe; clients are. The dev server is
        # threaded, so client creation is serialised.
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    def _client(self, name: str, config: Config) -> Any:
        service = SERVICES[name]  # a client not listed there has no model in the zip
        with self._lock:
            # Built on first use, not in Lambda's init phase: the session costs
            # a few ms and a page like /healthz or /login needs no client.
            if self._session is None:
                self._session = boto3.session.Session(region_name=self.settings.region)
            return self._session.client(
                service,  # type: ignore[call-overload]
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                config=config,
            )

    @cached_property
    def s3(self) -> S3Client:
        return self._client("s3", s3_config(self.settings))  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb", base_config())  # type: ignore[no-any-return]

    @cached_property
    def cognito(self) -> CognitoIdentityProviderClient:
        return self._client("cognito", base_config())  # type: ignore[no-any-return]

    @cached_property
    def sqs(self) -> SQSClient:
        return self._client("sqs", base_config())  # type: ignore[no-any-return]

    @cached_property
    def ses(self) -> SESClient:
        return self._client("ses", base_config())  # type: ignore[no-any-return]

    @cached_property
    def ssm(self) -> SSMClient:
        return self._client("ssm", base_config())  # type: ignore[no-any-return]


def base_config() -> Config:
    """Return the config every client shares: standard retries with backoff."""
    return Config(retries={"mode": "standard", "max_attempts": 5})


def s3_config(settings: Settings) -> Config:
    """Return S3's config: SigV4 and virtual-hosted URLs on the regional endpoint.

    A custom endpoint (moto on 127.0.0.1) has no DNS for ``<bucket>.<host>``, so
    there the bucket goes in the path instead.
    """
    style: Literal["path", "virtual"] = "path" if settings.endpoint_url else "virtual"
    return base_config().merge(Config(signature_version="s3v4", s3={"addressing_style": style}))


def error_code(exc: BaseException) -> str:
    """Return the AWS error code of ``exc`` (``"NoSuchKey"``), or "" if it has none."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_reason(exc: BaseException) -> str:
    """Return ``"Code: Message"`` of an AWS error (else the exception's text), for the CLI."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)

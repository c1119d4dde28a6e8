"""Configuration: the one place that reads ``os.environ``."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from .model import TableName

#: Settings a deployment must set, by environment name.
REQUIRED = (
    "EXPORT_BUCKET",
    "SLIPS_TABLE",
    "BALANCES_TABLE",
    "COGNITO_USER_POOL_ID",
    "COGNITO_CLIENT_ID",
    "APP_TABLE",
    "JOBS_QUEUE_URL",
)

MAX_DOWNLOAD_URL_EXPIRY = 300
#: The languages the site speaks, the first the default.
LOCALES = ("ja", "en")


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it.

    The ``flask --app webapp`` commands print just the message (see ``cli``);
    Lambda's init log shows it as is.
    """


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its environment."""

    export_bucket: str
    slips_table: str
    balances_table: str
    cognito_user_pool_id: str
    cognito_client_id: str
    region: str
    #: The app's own table: jobs (and, later, preferences), keyed like the data.
    app_table: str
    #: The SQS queue the worker function reads its jobs from.
    jobs_queue_url: str
    #: Flask's signing key. Outside local mode it is set directly or read from
    #: SSM (``secret_key_parameter``) when the app starts.
    secret_key: str | None = None
    secret_key_parameter: str | None = None
    #: The key that signs archives (local mode and tests), or the SSM SecureString
    #: holding it, whose versions are the key ids (see ``archive.signing``).
    archive_key: str | None = None
    archive_key_parameter: str | None = None
    #: A non-AWS endpoint (moto); boto3's own ``AWS_ENDPOINT_URL``.
    endpoint_url: str | None = None
    #: Local and test mode only: where to fetch the pool's JWKS. moto signs every
    #: pool's tokens with one public key, so production must never override this.
    jwks_url: str | None = None
    local: bool = False
    retention_days: int = 7
    download_url_expiry: int = 60
    display_timezone: str = "Asia/Tokyo"
    max_span_days: int = 1827
    #: The language of a visitor who has chosen none and whose browser asks for
    #: none the site speaks.
    default_locale: str = "ja"
    #: Unfinished jobs one user may have at once; one more is refused (429).
    max_active_jobs: int = 2
    #: Exports, previews and restores one user may start in any 24 hours (429 beyond).
    max_jobs_per_day: int = 30
    #: The worker function's timeout: a running job silent for longer has died.
    worker_timeout: int = 900
    #: The largest archive a user may upload from their PC to restore, in bytes.
    max_upload_bytes: int = 100 * 1024 * 1024
    #: Minutes a restore check (preview) may be confirmed after it was made.
    restore_check_minutes: int = 30
    #: Automatic backups kept per user (older ones go after each successful backup),
    #: and the days the bucket's lifecycle rule keeps any of them.
    backup_keep: int = 12
    backup_retention_days: int = 400
    #: Days the change log is kept (the bucket's rule on ``changes/``): the earliest
    #: moment a book can be put back to is at most this long ago.
    changes_retention_days: int = 30
    #: Seconds a change may take to reach the log (the recorder's batching window and
    #: its run): a restore to a moment reads the table no sooner after it was asked for.
    changes_settle_seconds: int = 20
    #: An SES-verified sender: when set, users get a mail after each automatic backup.
    notify_from: str | None = None
    #: The site's address, for the link in that mail (the page, never a download link).
    site_url: str | None = None
    #: Failed sign-ins allowed per email address and per client address within
    #: the window (minutes) that begins with the first of them.
    signin_max_failures: int = 5
    signin_max_failures_per_client: int = 20
    signin_window_minutes: int = 15

    def __post_init__(self) -> None:
        if self.jwks_url and not self.local:
            raise ConfigError("a JWKS URL override is only allowed in local mode")
        if not self.local and not (self.secret_key or self.secret_key_parameter):
            raise ConfigError("SECRET_KEY or SECRET_KEY_PARAMETER is required outside local mode")
        if not self.local and not (self.archive_key or self.archive_key_parameter):
            raise ConfigError("ARCHIVE_KEY or ARCHIVE_KEY_PARAMETER is required outside local mode")
        if self.archive_key is not None and len(self.archive_key) < 32:
            raise ConfigError("ARCHIVE_KEY must hold at least 32 characters")
        if not 0 <= self.changes_settle_seconds <= 600:
            raise ConfigError("CHANGES_SETTLE_SECONDS must be between 0 and 600")
        if self.changes_retention_days < 1:
            raise ConfigError("CHANGES_RETENTION_DAYS must be at least 1")
        if self.backup_keep < 1:
            raise ConfigError("BACKUP_KEEP must be at least 1")
        if self.retention_days < 1:
            raise ConfigError("EXPORT_RETENTION_DAYS must be at least 1")
        if not 1 <= self.download_url_expiry <= MAX_DOWNLOAD_URL_EXPIRY:
            raise ConfigError(
                f"DOWNLOAD_URL_EXPIRY must be between 1 and {MAX_DOWNLOAD_URL_EXPIRY}"
            )
        if self.default_locale not in LOCALES:
            raise ConfigError(
                f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}, not {self.default_locale!r}"
            )
        if self.max_jobs_per_day < 1:
            raise ConfigError("MAX_JOBS_PER_DAY must be at least 1")
        if self.max_active_jobs < 1:
            raise ConfigError("MAX_ACTIVE_JOBS must be at least 1")
        if not 60 <= self.worker_timeout <= 900:
            raise ConfigError("WORKER_TIMEOUT must be between 60 and 900 seconds (Lambda's limit)")
        if not 1024 <= self.max_upload_bytes <= 4 * 1024**3:
            raise ConfigError("MAX_UPLOAD_MB must be between 1 and 4096")
        if not 1 <= self.restore_check_minutes <= 24 * 60:
            raise ConfigError("RESTORE_CHECK_MINUTES must be between 1 and 1440")
        if self.signin_max_failures < 1 or self.signin_max_failures_per_client < 1:
            raise ConfigError("SIGNIN_MAX_FAILURES(_PER_CLIENT) must be at least 1")
        if not 1 <= self.signin_window_minutes <= 24 * 60:
            raise ConfigError("SIGNIN_WINDOW_MINUTES must be between 1 and 1440")
        if self.max_span_days < 1:
            raise ConfigError("EXPORT_MAX_DAYS must be at least 1")
        try:
            zoneinfo.ZoneInfo(self.display_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"DISPLAY_TIMEZONE {self.display_timezone!r} is not a known time zone"
            ) from exc

    @property
    def data_tables(self) -> dict[TableName, str]:
        """Return the DynamoDB table of each kakeibo table."""
        return {"slips": self.slips_table, "balances": self.balances_table}

    @property
    def issuer(self) -> str:
        """Return the ``iss`` every ID token of our pool carries."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.cognito_user_pool_id}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings of a deployment; fail naming what is missing."""
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED if not env.get(name)]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            missing.append("AWS_REGION")
        # Outside local mode both keys are needed too: named here, so one line says all.
        for key in ("SECRET_KEY", "ARCHIVE_KEY"):
            if not (env.get(key) or env.get(f"{key}_PARAMETER")):
                missing.append(f"{key} (or {key}_PARAMETER)")
        if missing:
            raise ConfigError("missing required setting(s): " + ", ".join(missing))
        return cls(
            export_bucket=env["EXPORT_BUCKET"],
            slips_table=env["SLIPS_TABLE"],
            balances_table=env["BALANCES_TABLE"],
            cognito_user_pool_id=env["COGNITO_USER_POOL_ID"],
            cognito_client_id=env["COGNITO_CLIENT_ID"],
            region=str(region),
            app_table=env["APP_TABLE"],
            jobs_queue_url=env["JOBS_QUEUE_URL"],
            secret_key=env.get("SECRET_KEY") or None,
            secret_key_parameter=env.get("SECRET_KEY_PARAMETER") or None,
            archive_key=env.get("ARCHIVE_KEY") or None,
            archive_key_parameter=env.get("ARCHIVE_KEY_PARAMETER") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            retention_days=_int(env, "EXPORT_RETENTION_DAYS", 7),
            download_url_expiry=_int(env, "DOWNLOAD_URL_EXPIRY", 60),
            display_timezone=env.get("DISPLAY_TIMEZONE") or "Asia/Tokyo",
            max_span_days=_int(env, "EXPORT_MAX_DAYS", 1827),
            default_locale=env.get("DEFAULT_LOCALE") or "ja",
            max_active_jobs=_int(env, "MAX_ACTIVE_JOBS", 2),
            max_jobs_per_day=_int(env, "MAX_JOBS_PER_DAY", 30),
            worker_timeout=_int(env, "WORKER_TIMEOUT", 900),
            max_upload_bytes=_int(env, "MAX_UPLOAD_MB", 100) * 1024 * 1024,
            restore_check_minutes=_int(env, "RESTORE_CHECK_MINUTES", 30),
            backup_keep=_int(env, "BACKUP_KEEP", 12),
            backup_retention_days=_int(env, "BACKUP_RETENTION_DAYS", 400),
            changes_retention_days=_int(env, "CHANGES_RETENTION_DAYS", 30),
            changes_settle_seconds=_int(env, "CHANGES_SETTLE_SECONDS", 20),
            notify_from=env.get("NOTIFY_FROM") or None,
            site_url=env.get("SITE_URL") or None,
            signin_max_failures=_int(env, "SIGNIN_MAX_FAILURES", 5),
            signin_max_failures_per_client=_int(env, "SIGNIN_MAX_FAILURES_PER_CLIENT", 20),
            signin_window_minutes=_int(env, "SIGNIN_WINDOW_MINUTES", 15),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc

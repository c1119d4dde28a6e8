"""Accessors for the current app's settings, AWS clients and the gateways built on them."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from flask import current_app

from ..archive.bucket import ArchiveBucket
from ..archive.ids import BACKUP_PREFIX
from ..aws import Clients
from ..identity.sessions import SessionStore
from ..identity.throttle import SignInThrottle, ThrottleLimits
from ..jobs.backups import BackupPrefsStore
from ..jobs.queue import JobQueue
from ..jobs.store import JobStore
from ..jobs.vocabulary import VocabularyStore
from ..jobs.worker import STALE_MARGIN
from ..settings import Settings


def get_settings() -> Settings:
    """Return the settings of the current app."""
    settings: Settings = current_app.extensions["kakeibo.settings"]
    return settings


def get_clients() -> Clients:
    """Return the boto3 clients of the current app."""
    clients: Clients = current_app.extensions["kakeibo.clients"]
    return clients


def archive_store() -> ArchiveBucket:
    """Return the archives of the current app's bucket."""
    settings = get_settings()
    return ArchiveBucket(
        get_clients().s3, settings.export_bucket, retention_days=settings.retention_days
    )


def backup_store() -> ArchiveBucket:
    """Return the automatic backups of the current app's bucket (``backups/``)."""
    settings = get_settings()
    return ArchiveBucket(
        get_clients().s3,
        settings.export_bucket,
        retention_days=settings.backup_retention_days,
        prefix=BACKUP_PREFIX,
    )


def backup_prefs() -> BackupPrefsStore:
    """Return the users' automatic backup choices."""
    return BackupPrefsStore(get_clients().dynamodb, get_settings().app_table)


def vocabulary_store() -> VocabularyStore:
    """Return the accounts, categories and kinds each user's exports have seen."""
    return VocabularyStore(get_clients().dynamodb, get_settings().app_table)


def job_store() -> JobStore:
    """Return the job records of the current app's table."""
    settings = get_settings()
    return JobStore(
        get_clients().dynamodb,
        settings.app_table,
        retention=timedelta(days=settings.retention_days),
    )


def job_queue() -> JobQueue:
    """Return the queue the worker function reads."""
    return JobQueue(get_clients().sqs, get_settings().jobs_queue_url)


def stale_after() -> timedelta:
    """Return how long a running job may be silent before it counts as dead."""
    return timedelta(seconds=get_settings().worker_timeout + STALE_MARGIN)


def session_store() -> SessionStore:
    """Return the users' sign-out markers."""
    return SessionStore(get_clients().dynamodb, get_settings().app_table)


def clock() -> float:
    """Return the current moment (epoch seconds); tests put their own clock in its place."""
    now: float = current_app.extensions.get("kakeibo.clock", time.time)()
    return now


def signin_throttle() -> SignInThrottle:
    """Return the failed sign-in counters, keyed by hashes salted with the app's secret."""
    settings = get_settings()
    secret = current_app.secret_key
    raw = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    return SignInThrottle(
        get_clients().dynamodb,
        settings.app_table,
        ThrottleLimits(
            account=settings.signin_max_failures,
            client=settings.signin_max_failures_per_client,
            window=settings.signin_window_minutes * 60,
        ),
        salt=hashlib.sha256(b"kakeibo-export sign-in throttle\0" + raw).digest(),
    )

"""The current app's services (``webapp/services.py``) and settings, for views."""

from __future__ import annotations

import hashlib

from flask import current_app

from ..aws import Clients
from ..identity.throttle import SignInThrottle
from ..services import Services
from ..settings import Settings

SERVICES = "kakeibo.services"


def services() -> Services:
    """Return the stores, queue and buckets of the current app."""
    found: Services = current_app.extensions[SERVICES]
    return found


def get_settings() -> Settings:
    """Return the settings of the current app."""
    return services().settings


def get_clients() -> Clients:
    """Return the boto3 clients of the current app (Cognito's, for sign-in)."""
    return services().clients


def clock() -> float:
    """Return the current moment in epoch seconds, by the services' clock."""
    return services().now().timestamp()


def signin_throttle() -> SignInThrottle:
    """Return the failed sign-in counters, keyed by hashes salted with the app's secret."""
    secret = current_app.secret_key
    raw = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    return services().throttle(hashlib.sha256(b"kakeibo-export sign-in throttle\0" + raw).digest())

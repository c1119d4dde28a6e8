"""The current app's services (``webapp/services.py``) and settings, for views."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request

from ..apptable import UserItems
from ..aws import Clients
from ..identity.throttle import SignInThrottle
from ..services import Services
from ..settings import Settings

SERVICES = "kakeibo.services"
#: The attribute ``reads_user_items`` sets on a view (``functools.wraps`` carries it).
READS_USER_ITEMS = "reads_user_items"

V = TypeVar("V", bound=Callable[..., object])


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


def reads_user_items(view: V) -> V:
    """Mark a view that draws the user's whole partition: its session check reads it too.

    The sign-out marker is one of the user's items, so the check before such a page
    takes it from the page's one ``Query`` instead of a ``GetItem`` of its own: the
    page's app-table state arrives in one round trip.
    """
    setattr(view, READS_USER_ITEMS, True)
    return view


def view_reads_user_items() -> bool:
    """Return whether the current request's view is marked by ``reads_user_items``."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, READS_USER_ITEMS, False))


def user_items(sub: str) -> UserItems:
    """Return the user's partition, read once per request (``Services.user_items``)."""
    cached: UserItems | None = g.get("user_items")
    if cached is None or cached.user_id != sub:
        cached = g.user_items = services().user_items(sub)
    return cached

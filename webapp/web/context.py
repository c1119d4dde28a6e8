"""Accessors for the current app's settings and AWS clients."""

from __future__ import annotations

from flask import current_app

from ..aws import Clients
from ..settings import Settings


def get_settings() -> Settings:
    """Return the settings of the current app."""
    settings: Settings = current_app.extensions["kakeibo.settings"]
    return settings


def get_clients() -> Clients:
    """Return the boto3 clients of the current app."""
    clients: Clients = current_app.extensions["kakeibo.clients"]
    return clients

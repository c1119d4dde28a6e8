"""Kakeibo Export: back up a household account book from DynamoDB to a zip.

``create_app`` is imported on first call, so ``import webapp.archive`` (the
Flask-free core) loads neither Flask nor boto3's clients of the web app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for ``settings`` (read from the environment when omitted)."""
    from .app import create_app as build

    return build(settings)

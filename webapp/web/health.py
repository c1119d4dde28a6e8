"""Health check for the deploy and for monitoring."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Answer 200 without login and without touching AWS."""
    return {"status": "ok"}, 200

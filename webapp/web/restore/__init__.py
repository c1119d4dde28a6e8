"""Restoring from the page: pick an archive or upload one, preview, confirm, undo."""

from __future__ import annotations

from . import checks, moments  # noqa: F401 (their views register on bp)
from .views import bp

__all__ = ["bp"]

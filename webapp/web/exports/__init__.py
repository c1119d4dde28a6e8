"""The exports page: the form, the archive list, downloads and deletes."""

from __future__ import annotations

from .views import bp

__all__ = ["bp"]

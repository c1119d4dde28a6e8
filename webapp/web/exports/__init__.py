"""The exports page: the form, jobs in progress, the archive list, downloads and deletes."""

from __future__ import annotations

from . import deleting, jobs  # noqa: F401 (their views register on bp)
from .views import bp

__all__ = ["bp"]

"""Automatic backups on the page: the setting, the list, download."""

from __future__ import annotations

from .views import bp

__all__ = ["bp"]

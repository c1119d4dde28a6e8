"""Signing in: the pages, the session, the sealed challenge and the forms."""

from __future__ import annotations

from .session import User, current_user, login_required, signed_in_user
from .views import bp

__all__ = ["User", "bp", "current_user", "login_required", "signed_in_user"]

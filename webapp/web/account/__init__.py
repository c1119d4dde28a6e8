"""Account self-service: the password reset pages and the account (authenticator app) page."""

from __future__ import annotations

from .reset import bp as reset_bp
from .views import bp

__all__ = ["bp", "reset_bp"]

"""Account self-service: the password reset pages."""

from __future__ import annotations

from .reset import bp as reset_bp

__all__ = ["reset_bp"]

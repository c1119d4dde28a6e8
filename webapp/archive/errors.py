"""The core's exceptions: ``str()`` of each is a message fit to show the user."""

from __future__ import annotations


class ExportError(Exception):
    """An export failed and left nothing behind."""


class InvalidRange(ExportError):
    """The dates start after they end, or span too many days."""


class RestoreError(Exception):
    """The archive cannot be restored; nothing was written."""


class WriteError(RestoreError):
    """DynamoDB stopped a restore part-way; ``str()`` says how far it got."""

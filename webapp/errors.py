"""The user-facing error: a message fit to show a person, translated by the web layer.

Every layer raises it (the core, the jobs, identity), and none of them imports
Flask, so a message is kept as its English text (a gettext msgid, marked with
``N_`` for extraction) and its fields. ``str()`` gives the English sentence (the
CLI and logs use it); the web layer translates the msgid into the page's
language and fills the same fields (``web/i18n.translate_error``).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it (the web layer does)."""
    return message


class UserError(Exception):
    """An error whose ``message`` (with ``%(name)s`` fields) is fit to show the user."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        return self.message % {
            name: f"{value:,}" if isinstance(value, int) else value
            for name, value in self.fields.items()
        }


class Stopped(Exception):
    """The caller stopped the work part-way (a cancelled job); nothing was left behind."""

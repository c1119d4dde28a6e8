"""The user-facing error: a message fit to show a person, translated by the web layer.

Every layer raises it (the core, the jobs, identity), and none of them imports
Flask, so a message is kept as its English text (a gettext msgid, marked with
``N_`` for extraction) and its fields. ``str()`` gives the English sentence (the
CLI and logs use it); the web layer translates the msgid into the page's
language and fills the same fields (``web/i18n.translate_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it (the web layer does)."""
    return message


class UserError(Exception):
    """An error whose ``message`` (with ``%(name)s`` fields) is fit to show the user.

    A class may set ``summary``: its words for people, whatever went wrong in
    detail. The message given where the error is raised then becomes the
    ``detail`` (the technical sentence, shown second on a page, first to an
    operator), and both are filled from the same fields.
    """

    summary: ClassVar[str | None] = None

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = self.summary or message
        self.detail = message if self.summary else None
        self.fields = fields

    def __str__(self) -> str:
        """Return the most precise English sentence: the detail if there is one."""
        return fill(self.detail or self.message, self.fields)

    def text(self) -> str:
        """Return the English sentence for people (the summary if there is one)."""
        return fill(self.message, self.fields)


def fill(message: str, fields: Mapping[str, object]) -> str:
    """Return ``message`` with its ``%(name)s`` fields filled in (numbers grouped)."""
    if not fields:
        return message
    return message % {
        name: f"{value:,}" if isinstance(value, int) else value for name, value in fields.items()
    }


class Stopped(Exception):
    """The caller stopped the work part-way (a cancelled job); nothing was left behind."""

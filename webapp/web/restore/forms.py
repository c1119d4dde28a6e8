"""The restore forms: which archive, merge or replace, and the typed confirmation."""

from __future__ import annotations

import unicodedata

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints; the second code keeps this clean once the
# project's mypy config ignores wtforms.* as it does flask_wtf.*.
from wtforms import (  # type: ignore[import-untyped, unused-ignore]
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.validators import (  # type: ignore[import-untyped, unused-ignore]
    InputRequired,
    Optional,
    Regexp,
    ValidationError,
)

from ...jobs.restore import MERGE, REPLACE
from ...jobs.sources import RestoreSource

#: What the user types to confirm a replace: the word in either language.
CONFIRM_WORDS = frozenset({"replace", "置き換え"})


def _mode_field() -> RadioField:
    return RadioField(
        _l("How to restore"),
        choices=[
            SelectChoice(MERGE, _l("Merge: put back what the archive holds, keep everything else")),
            SelectChoice(REPLACE, _l("Replace: make the archive's period exactly the archive")),
        ],
        default=MERGE,
        validators=[InputRequired(_l("Choose how to restore."))],
    )


class PreviewForm(FlaskForm):  # type: ignore[misc]
    """Which archive to check: one of the user's archives or backups, or their upload."""

    source = HiddenField(
        validators=[
            InputRequired(),
            # "\Z" ends at the very end; "$" would let "upload:<hex>\n" through to a 500.
            Regexp(
                r"((archive|backup):[0-9A-Za-z_]{1,80}|upload:[0-9a-f]{32})\Z",
                message=_l("That archive cannot be restored."),
            ),
        ]
    )

    @property
    def chosen(self) -> RestoreSource:
        """Return the file chosen, once ``validate()`` has passed."""
        origin, _, name = str(self.source.data).partition(":")
        return RestoreSource.from_dict(
            {"kind": origin, ("token" if origin == "upload" else "archive_id"): name}
        )


class RestoreForm(FlaskForm):  # type: ignore[misc]
    """Merge or replace; a replace must be confirmed by typing the word."""

    mode = _mode_field()
    confirm = StringField(
        _l("To replace, type “replace”"),
        filters=[lambda v: unicodedata.normalize("NFKC", v).strip().lower() if v else v],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
    )

    def validate_confirm(self, field: StringField) -> None:
        """Ask for the typed word before a replace, which deletes items."""
        if self.mode.data == REPLACE and field.data not in CONFIRM_WORDS:
            raise ValidationError(_l("A replace deletes items: type “replace” to confirm it."))


class UndoForm(FlaskForm):  # type: ignore[misc]
    """Undo a restore: only the CSRF token (an undo always replaces, and says so first)."""


class MomentForm(FlaskForm):  # type: ignore[misc]
    """A moment to put the account book back to: just before a listed change, or a time."""

    #: Just before a listed change: its time in ms since the epoch, less one.
    at_ms = HiddenField(
        validators=[Optional(), Regexp(r"^[0-9]{1,15}$", message=_l("Choose a moment."))]
    )
    when = DateTimeLocalField(
        _l("Date and time"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )

"""The automatic backup setting: off, weekly or monthly."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints (see web/restore/forms.py).
from wtforms import RadioField, SelectChoice  # type: ignore[import-untyped, unused-ignore]
from wtforms.validators import InputRequired  # type: ignore[import-untyped, unused-ignore]


class BackupForm(FlaskForm):  # type: ignore[misc]
    """How often an automatic backup of everything is made."""

    frequency = RadioField(
        _l("Automatic backup"),
        choices=[
            SelectChoice("off", _l("Off")),
            SelectChoice("weekly", _l("Every week")),
            SelectChoice("monthly", _l("Every month")),
        ],
        default="off",
        validators=[InputRequired(_l("Choose how often."))],
    )

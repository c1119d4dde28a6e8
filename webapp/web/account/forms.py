"""The account forms: declarative, no I/O in validators (the pool's policy is checked in views)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints (see web/auth/forms.py).
from wtforms import EmailField, StringField  # type: ignore[import-untyped, unused-ignore]
from wtforms.validators import (  # type: ignore[import-untyped, unused-ignore]
    DataRequired,
    Length,
    Regexp,
)

from ..auth.forms import MAX_EMAIL, NewPasswordForm

#: Cognito's limit on a confirmation code (its own are 6 digits).
MAX_CODE = 2048


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _no_spaces(value: str | None) -> str | None:
    # A mailed "123 456" or a pasted code with a trailing newline still works.
    return "".join(value.split()) if isinstance(value, str) else value


def _email_field() -> EmailField:
    return EmailField(
        _l("Email address"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter your email address.")),
            Length(
                max=MAX_EMAIL,
                message=_l("An email address has at most %(max)s characters.", max=MAX_EMAIL),
            ),
            Regexp(
                r"^[^@\s]+@[^@\s]+$", message=_l("Enter an email address like name@example.com.")
            ),
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false", "autocapitalize": "none"},
    )


class ForgotPasswordForm(FlaskForm):  # type: ignore[misc]
    """The address to send a reset code to."""

    email = _email_field()


class ResetPasswordForm(NewPasswordForm):
    """The mailed code and a new password, typed twice (the new-password step's two fields)."""

    email = _email_field()
    code = StringField(
        _l("Code from the email"),
        filters=[_no_spaces],
        validators=[
            DataRequired(_l("Enter the code from the email.")),
            Length(max=MAX_CODE, message=_l("That is not a code we sent.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "spellcheck": "false",
            "autocapitalize": "none",
        },
    )


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only the CSRF token."""

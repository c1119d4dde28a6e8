"""The account forms: declarative, no I/O in validators (the pool's policy is checked in views)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints (see web/auth/forms.py).
from wtforms import StringField  # type: ignore[import-untyped, unused-ignore]
from wtforms.validators import (  # type: ignore[import-untyped, unused-ignore]
    DataRequired,
    Length,
)

from ..auth.forms import NewPasswordForm, email_field, no_spaces, password_field

#: Cognito's limit on a confirmation code (its own are 6 digits).
MAX_CODE = 2048


class ForgotPasswordForm(FlaskForm):  # type: ignore[misc]
    """The address to send a reset code to."""

    email = email_field()


class ResetPasswordForm(NewPasswordForm):
    """The mailed code and a new password, typed twice (the new-password step's two fields)."""

    email = email_field()
    code = StringField(
        _l("Code from the email"),
        filters=[no_spaces],
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


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only the CSRF token."""


class DisableTotpForm(FlaskForm):  # type: ignore[misc]
    """The account's password, asked again before the authenticator app is turned off.

    A session alone (a browser left open, a cookie copied) must not be enough to
    remove the second step of sign-in.
    """

    password = password_field(_l("Your password"))

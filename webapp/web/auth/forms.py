"""The sign-in forms: declarative, no I/O in validators."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints; the second code keeps this clean once the
# project's mypy config ignores wtforms.* as it does flask_wtf.*.
from wtforms import EmailField, PasswordField, StringField  # type: ignore[import-untyped, unused-ignore]
from wtforms.validators import (  # type: ignore[import-untyped, unused-ignore]
    DataRequired,
    EqualTo,
    Length,
    Regexp,
)

# Regexp matches from the start; "\Z" ends at the very end, where "$" would also let a
# trailing newline through.

#: Cognito's own limits: usernames up to 128 characters, passwords up to 256.
MAX_EMAIL = 128
MAX_PASSWORD = 256


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def no_spaces(value: str | None) -> str | None:
    """Drop every space: an app shows "123 456", a mailed or pasted code may end in a newline."""
    return "".join(value.split()) if isinstance(value, str) else value


def password_field(label: Any) -> PasswordField:
    """Return a field for the user's current password (sign-in, and the account's checks)."""
    return PasswordField(
        label,
        validators=[
            DataRequired(_l("Enter your password.")),
            Length(
                max=MAX_PASSWORD,
                message=_l("A password has at most %(max)s characters.", max=MAX_PASSWORD),
            ),
        ],
        render_kw={"autocomplete": "current-password"},
    )


def email_field() -> EmailField:
    """Return the email address field, as sign-in and the password reset ask for it."""
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
                r"[^@\s]+@[^@\s]+\Z", message=_l("Enter an email address like name@example.com.")
            ),
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false", "autocapitalize": "none"},
    )


class LoginForm(FlaskForm):  # type: ignore[misc]
    """Email and password."""

    email = email_field()
    password = password_field(_l("Password"))


class NewPasswordForm(FlaskForm):  # type: ignore[misc]
    """A new password, typed twice; the pool's policy is checked by Cognito."""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(
                max=MAX_PASSWORD,
                message=_l("A password has at most %(max)s characters.", max=MAX_PASSWORD),
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password, again"),
        validators=[
            DataRequired(_l("Enter the new password a second time.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class MfaForm(FlaskForm):  # type: ignore[misc]
    """The 6-digit code from an authenticator app."""

    code = StringField(
        _l("6-digit code"),
        filters=[no_spaces],
        validators=[
            DataRequired(_l("Enter the 6-digit code from your authenticator app.")),
            Regexp(r"[0-9]{6}\Z", message=_l("The code is 6 digits, like 123456.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "pattern": "[0-9 ]*",
            "maxlength": "7",
            "spellcheck": "false",
        },
    )

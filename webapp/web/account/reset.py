"""Forgot your password: a code by mail (ForgotPassword), then code + new password (Confirm...).

Whether an address has an account is never told: a known, an unknown and a
not-resettable address all get the same redirect and the same words. The
address typed goes into the session (it is the user's own input) only to fill
in the second form.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...identity import selfservice
from ...identity.cognito import Failure
from ...identity.selfservice import AccountError
from ..auth.messages import account_message, password_hint, weak_password
from ..auth.policy import password_policy
from ..context import get_clients, get_settings
from .forms import ForgotPasswordForm, ResetPasswordForm

bp = Blueprint("reset", __name__, url_prefix="/login")

_EMAIL = "reset_email"


@bp.app_template_global("password_hint")
def _password_hint() -> str:
    return password_hint()


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> Response | tuple[str, int]:
    """Ask for the account's address; have Cognito mail it a reset code."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return _render("account/forgot.html", form, 400 if form.is_submitted() else 200)
    email = form.email.data
    settings = get_settings()
    try:
        selfservice.request_password_reset(get_clients().cognito, settings.cognito_client_id, email)
    except AccountError as exc:
        message, status = account_message(exc.failure)
        form.form_errors.append(message)
        return _render("account/forgot.html", form, status)
    session[_EMAIL] = email
    flash(
        _(
            "If %(email)s belongs to an account, we have emailed it a code. "
            "It can take a few minutes to arrive; check your spam folder too.",
            email=email,
        ),
        "info",
    )
    return redirect(url_for("reset.confirm"), code=303)


@bp.route("/reset", methods=["GET", "POST"])
def confirm() -> Response | tuple[str, int]:
    """Take the mailed code and a new password; set it and send the user to sign in."""
    form = ResetPasswordForm()
    if not form.is_submitted() and isinstance(session.get(_EMAIL), str):
        form.email.data = session[_EMAIL]
    if not form.validate_on_submit():
        return _render("account/reset.html", form, 400 if form.is_submitted() else 200)
    policy = password_policy()
    if policy is not None and policy.broken(form.password.data):
        # Checked here too: the same words before Cognito is asked, and moto
        # does not check the policy on this call.
        form.password.errors = [weak_password(policy)]
        return _render("account/reset.html", form, 400)
    settings = get_settings()
    try:
        selfservice.confirm_password_reset(
            get_clients().cognito,
            settings.cognito_client_id,
            form.email.data,
            form.code.data,
            form.password.data,
        )
    except AccountError as exc:
        message, status = account_message(exc.failure)
        if exc.failure is Failure.BAD_PASSWORD:
            form.password.errors = [message]
        elif exc.failure in {Failure.BAD_RESET_CODE, Failure.RESET_CODE_EXPIRED}:
            form.code.errors = [message]
        else:
            form.form_errors.append(message)
        return _render("account/reset.html", form, status)
    # Whoever was signed in here before is not necessarily who just reset.
    session.clear()
    flash(_("Your password has been changed. Sign in with your new password."), "success")
    return redirect(url_for("auth.login"), code=303)


def _render(template: str, form: object, status: int) -> tuple[str, int]:
    return render_template(template, form=form), status

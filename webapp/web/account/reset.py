"""Forgot your password: a code by mail (ForgotPassword), then code + new password (Confirm...).

Whether an address has an account is never told: a known, an unknown and a
not-resettable address all get the same redirect and the same words, and a
wrong, expired or used code the same error whoever the address belongs to. The
address typed goes into the session (it is the user's own input) only to fill
in the second form. Each code typed counts as an attempt against the address
and the client, as a password does at sign-in (``auth.attempts``). A reset ends
every session of the account, in every browser, as "Sign out everywhere" does.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...identity import selfservice
from ...identity.cognito import Failure, sign_out_everywhere, user_sub
from ...identity.selfservice import AccountError
from ...identity.sessions import SessionCheckError, now_ms
from ..auth.attempts import Throttled, count_attempt, too_many_attempts
from ..auth.messages import account_message, password_hint, weak_password
from ..auth.policy import password_policy
from ..context import get_clients, get_settings, services
from .forms import ForgotPasswordForm, ResetPasswordForm

bp = Blueprint("reset", __name__, url_prefix="/login")
log = logging.getLogger(__name__)

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
    try:
        attempt = count_attempt(form.email.data)
    except Throttled as exc:
        form.form_errors.append(too_many_attempts(exc.wait))
        response = make_response(*_render("account/reset.html", form, 429))
        response.headers["Retry-After"] = str(exc.wait)
        return response
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
        if exc.failure is Failure.BAD_RESET_CODE:
            form.code.errors = [message]
            return _render("account/reset.html", form, status)
        attempt.succeeded()  # the code was not the problem
        if exc.failure is Failure.BAD_PASSWORD:
            form.password.errors = [message]
        else:
            form.form_errors.append(message)
        return _render("account/reset.html", form, status)
    attempt.succeeded()
    ended = _end_every_session(form.email.data)
    # Whoever was signed in here before is not necessarily who just reset.
    session.clear()
    flash(_("Your password has been changed. Sign in with your new password."), "success")
    if not ended:
        flash(
            _(
                "Other browsers could not be signed out just now. After you sign in, use "
                "“Sign out everywhere”."
            ),
            "error",
        )
    return redirect(url_for("auth.login"), code=303)


def _end_every_session(email: str) -> bool:
    """End every session of the account, as "Sign out everywhere" does; return whether it did."""
    settings, cognito = get_settings(), get_clients().cognito
    sub = user_sub(cognito, settings.cognito_user_pool_id, email)
    sign_out_everywhere(cognito, settings.cognito_user_pool_id, email)
    if sub is None:
        return False
    try:
        services().sessions.end_all(sub, now=now_ms())
    except SessionCheckError:
        log.error("The sessions of an account whose password was reset could not be ended")
        return False
    return True


def _render(template: str, form: object, status: int) -> tuple[str, int]:
    return render_template(template, form=form), status

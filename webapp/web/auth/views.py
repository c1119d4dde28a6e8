"""The sign-in pages: email and password through Cognito, its challenges, and sign-out.

A sign-in that Cognito interrupts with a challenge keeps Cognito's session
string and the username in the cookie, encrypted (see ``challenge``), and only
until the challenge is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ...identity import cognito
from ...identity.cognito import Challenge, Failure, SignInError, Step
from ...identity.sessions import SessionCheckError, now_ms
from ...identity.tokens import TokenError, jwks_client, jwks_url, verify_id_token
from ..context import get_clients, get_settings, services
from .access import keep_access_token
from .attempts import Throttled, count_attempt, too_many_attempts
from .challenge import drop_challenge, load_challenge, save_challenge
from .forms import LoginForm, MfaForm, NewPasswordForm
from .messages import EXPIRED_CHALLENGE, MESSAGES, weak_password
from .session import (
    User,
    current_user,
    login_required,
    safe_next,
    session_id,
    signed_in_user,
    start_session,
)

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

#: Endpoints anyone may reach; every other one needs a session.
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login",
        "auth.new_password",
        "auth.mfa",
        "health.healthz",
        "i18n.switch",
        "static",
        # Forgot your password (web/account/reset.py).
        "reset.forgot",
        "reset.confirm",
    }
)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Show the sign-in form; sign in with Cognito."""
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET" and current_user() is not None:
        return redirect(next_url)
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return _render("auth/login.html", form, status, next_url=next_url)
    drop_challenge()
    try:
        attempt = count_attempt(form.email.data)
    except Throttled as exc:
        return _throttled("auth/login.html", form, exc.wait, next_url)
    try:
        step = cognito.start_sign_in(
            get_clients().cognito,
            get_settings().cognito_client_id,
            form.email.data,
            form.password.data,
        )
    except SignInError as exc:
        if exc.failure is not Failure.BAD_CREDENTIALS:
            attempt.succeeded()  # not a wrong password: nothing to count
        return _failed("auth/login.html", form, exc, next_url=next_url)
    attempt.succeeded()
    return _proceed(step, next_url, form, "auth/login.html", account=form.email.data)


def _throttled(template: str, form: FlaskForm, wait: int, next_url: str = "/") -> Response:
    form.form_errors.append(too_many_attempts(wait))
    body, status = _render(template, form, 429, next_url=next_url)
    response = make_response(body, status)
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login/new-password", methods=["GET", "POST"])
def new_password() -> Response | str | tuple[str, int]:
    """Ask for a new password when Cognito requires one, then sign in."""
    pending = load_challenge(cognito.NEW_PASSWORD_REQUIRED)
    if pending is None:
        return _restart()
    challenge, next_url, account = pending
    form = NewPasswordForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return _render("auth/new_password.html", form, status)
    try:
        step = cognito.answer_new_password(
            get_clients().cognito, get_settings().cognito_client_id, challenge, form.password.data
        )
    except SignInError as exc:
        if exc.failure is Failure.BAD_PASSWORD:
            # Cognito's own sentence is never shown: our words, the pool's rules.
            form.password.errors = [weak_password()]
            return _render("auth/new_password.html", form, 400)
        return _failed("auth/new_password.html", form, exc)
    return _proceed(step, next_url, form, "auth/new_password.html", account=account)


@bp.route("/login/mfa", methods=["GET", "POST"])
def mfa() -> Response | str | tuple[str, int]:
    """Ask for the authenticator app's code when Cognito requires it, then sign in."""
    pending = load_challenge(cognito.SOFTWARE_TOKEN_MFA)
    if pending is None:
        return _restart()
    challenge, next_url, account = pending
    form = MfaForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return _render("auth/mfa.html", form, status)
    try:
        attempt = count_attempt(account)
    except Throttled as exc:
        return _throttled("auth/mfa.html", form, exc.wait)
    try:
        step = cognito.answer_mfa_code(
            get_clients().cognito, get_settings().cognito_client_id, challenge, form.code.data
        )
    except SignInError as exc:
        if exc.failure is Failure.BAD_CODE:
            form.code.errors = [str(MESSAGES[Failure.BAD_CODE][0])]
            return _render("auth/mfa.html", form, 401)
        attempt.succeeded()
        return _failed("auth/mfa.html", form, exc)
    attempt.succeeded()
    return _proceed(step, next_url, form, "auth/mfa.html", account=account)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """End this session on the server too, clear the cookie, return to the sign-in page."""
    user, (sid, _issued) = signed_in_user(), session_id()
    _end(lambda: services().sessions.revoke(user.sub, sid, session.get("exp", 0), now=now_ms()))
    session.clear()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.get("/logout/everywhere")
@login_required
def confirm_logout_everywhere() -> str:
    """Ask before signing out in every browser: it ends sessions the user may still want."""
    return render_template("auth/logout_everywhere.html", form=FlaskForm())


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere() -> Response:
    """End every session of the user, in every browser, and their Cognito sessions."""
    user = signed_in_user()
    _end(lambda: services().sessions.end_all(user.sub, now=now_ms()))
    cognito.sign_out_everywhere(
        get_clients().cognito, get_settings().cognito_user_pool_id, user.email
    )
    session.clear()
    flash(_("You have been signed out in every browser."), "info")
    return redirect(url_for("auth.login"), code=303)


def _end(write: Callable[[], None]) -> None:
    # Until the marker is written the cookie would still work elsewhere: say so.
    try:
        write()
    except SessionCheckError as exc:
        abort(503, description=_(exc.message) + " " + _("You are still signed in. Try again."))


@bp.app_context_processor
def inject_user() -> dict[str, User | None]:
    """Make ``current_user`` available to every template (none on a page for /static/)."""
    # A missing static file needs neither the session check nor the email.
    return {"current_user": None if request.endpoint == "static" else current_user()}


def _proceed(
    step: Step, next_url: str, form: FlaskForm, template: str, *, account: str
) -> Response | tuple[str, int]:
    if isinstance(step, Challenge):
        save_challenge(step, next_url, account=account)
        endpoint = "auth.new_password" if step.name == cognito.NEW_PASSWORD_REQUIRED else "auth.mfa"
        return redirect(url_for(endpoint), code=303)
    settings = get_settings()
    try:
        identity = verify_id_token(
            step.id_token,
            issuer=settings.issuer,
            client_id=settings.cognito_client_id,
            keys=jwks_client(jwks_url(settings)),
        )
    except TokenError as exc:
        log.error("Cognito's ID token failed verification: %s", exc)
        drop_challenge()
        return _failed(template, form, SignInError(Failure.UNAVAILABLE))
    start_session(User(sub=identity.sub, email=identity.email), identity.expires_at)
    keep_access_token(step.access_token)
    return redirect(next_url, code=303)


def _failed(
    template: str, form: FlaskForm, error: SignInError, next_url: str = "/"
) -> Response | tuple[str, int]:
    if error.failure is Failure.EXPIRED:
        return _restart(str(EXPIRED_CHALLENGE))
    if error.failure is Failure.UNSUPPORTED:
        drop_challenge()  # Cognito has moved past the one we hold
    message, status = MESSAGES.get(error.failure, MESSAGES[Failure.UNAVAILABLE])
    form.form_errors.append(str(message) % {"detail": error.detail})
    return _render(template, form, status, next_url=next_url)


def _render(template: str, form: FlaskForm, status: int, next_url: str = "/") -> tuple[str, int]:
    return render_template(template, form=form, next=None if next_url == "/" else next_url), status


def _restart(message: str | None = None) -> Response:
    drop_challenge()
    flash(message or _("Please sign in first."), "info")
    return redirect(url_for("auth.login"), code=303)

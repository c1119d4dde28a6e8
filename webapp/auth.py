"""Who the user is: sign-in through Cognito, the session, and the guard on every private page.

The identity comes only from an ID token the server verified; the session
cookie (signed by Flask) holds just the verified ``sub``, the email for display
and when the Cognito session ends. A sign-in that Cognito interrupts with a
challenge keeps Cognito's session string and the username in the cookie too,
but encrypted, and only until the challenge is answered.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from . import auth_cognito as cognito
from .auth_cognito import Challenge, Failure, SignInError, Step
from .auth_forms import LoginForm, MfaForm, NewPasswordForm
from .context import get_clients, get_settings
from .tokens import TokenError, jwks_client, jwks_url, verify_id_token

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Endpoints anyone may reach; every other one needs a session.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "auth.new_password", "auth.mfa", "health.healthz", "static"}
)
#: Cognito keeps a challenge open 3 minutes by default and 15 at most.
CHALLENGE_TTL = 15 * 60
_CHALLENGE = "challenge"

#: What the user reads for each failure, and the status of the page that says it.
MESSAGES: dict[Failure, tuple[str, int]] = {
    Failure.BAD_CREDENTIALS: ("Incorrect email address or password.", 401),
    Failure.RESET_REQUIRED: (
        "Your password has to be reset before you can sign in. Ask the person who runs "
        "Kakeibo Export for a new temporary password.",
        403,
    ),
    Failure.NOT_CONFIRMED: (
        "This account has not been confirmed yet. Confirm it with the code you received "
        "by email, or ask the person who runs Kakeibo Export.",
        403,
    ),
    Failure.TOO_MANY: ("Too many sign-in attempts. Wait a few minutes, then try again.", 429),
    Failure.BAD_CODE: (
        "That code is not right. Enter the code your authenticator app shows now.",
        401,
    ),
    Failure.UNSUPPORTED: (
        "This account needs a sign-in step that Kakeibo Export does not support ({detail}). "
        "Ask the person who runs Kakeibo Export for help.",
        403,
    ),
    Failure.UNAVAILABLE: (
        "Sign-in is not available right now. Please try again in a few minutes.",
        503,
    ),
}
EXPIRED_CHALLENGE = "That sign-in took too long and has expired. Please sign in again."
EXPIRED_SESSION = "Your session has ended. Please sign in again."


@dataclass(frozen=True)
class User:
    """A signed-in user, as verified from their Cognito ID token."""

    sub: str
    email: str


def start_session(user: User, expires_at: int) -> None:
    """Sign ``user`` in until ``expires_at`` (epoch seconds, the token's ``exp``)."""
    session.clear()
    session["sub"] = user.sub
    session["email"] = user.email
    session["exp"] = int(expires_at)


def current_user() -> User | None:
    """Return the signed-in user, or None when there is no live session."""
    if "user" in g:
        user: User | None = g.user
        return user
    sub, email, exp = session.get("sub"), session.get("email"), session.get("exp")
    user = None
    if isinstance(sub, str) and isinstance(email, str) and isinstance(exp, int):
        if exp > time.time():
            user = User(sub=sub, email=email)
        else:
            # The ID token has expired, so has Cognito's sign-in: no silent refresh.
            session.clear()
            flash(EXPIRED_SESSION, "info")
    g.user = user
    return user


def login_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Send anyone without a live session to the sign-in page, then back."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a page of this site, else ``/``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil" or
    # "/\t/evil" would leave the site.
    if "\\" in target or not target.isprintable() or any(c.isspace() for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    try:
        # Only somewhere a GET can go: after a POST-only URL the user lands on "/".
        current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except RequestRedirect:
        pass
    except HTTPException:
        return "/"
    return target


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
    session.pop(_CHALLENGE, None)
    settings = get_settings()
    try:
        step = cognito.start_sign_in(
            get_clients().cognito, settings.cognito_client_id, form.email.data, form.password.data
        )
    except SignInError as exc:
        return _failed("auth/login.html", form, exc, next_url=next_url)
    return _proceed(step, next_url, form, "auth/login.html")


@bp.route("/login/new-password", methods=["GET", "POST"])
def new_password() -> Response | str | tuple[str, int]:
    """Ask for a new password when Cognito requires one, then sign in."""
    pending = _load_challenge(cognito.NEW_PASSWORD_REQUIRED)
    if pending is None:
        return _restart()
    challenge, next_url = pending
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
            form.password.errors = [
                f"Choose a stronger password: {exc.detail or 'it breaks the password rules.'}"
            ]
            return _render("auth/new_password.html", form, 400)
        return _failed("auth/new_password.html", form, exc)
    return _proceed(step, next_url, form, "auth/new_password.html")


@bp.route("/login/mfa", methods=["GET", "POST"])
def mfa() -> Response | str | tuple[str, int]:
    """Ask for the authenticator app's code when Cognito requires it, then sign in."""
    pending = _load_challenge(cognito.SOFTWARE_TOKEN_MFA)
    if pending is None:
        return _restart()
    challenge, next_url = pending
    form = MfaForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return _render("auth/mfa.html", form, status)
    try:
        step = cognito.answer_mfa_code(
            get_clients().cognito, get_settings().cognito_client_id, challenge, form.code.data
        )
    except SignInError as exc:
        if exc.failure is Failure.BAD_CODE:
            form.code.errors = [MESSAGES[Failure.BAD_CODE][0]]
            return _render("auth/mfa.html", form, 401)
        return _failed("auth/mfa.html", form, exc)
    return _proceed(step, next_url, form, "auth/mfa.html")


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Clear the session and return to the sign-in page."""
    session.clear()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.app_context_processor
def inject_user() -> dict[str, User | None]:
    """Make ``current_user`` available to every template."""
    return {"current_user": current_user()}


def _proceed(
    step: Step, next_url: str, form: FlaskForm, template: str
) -> Response | tuple[str, int]:
    if isinstance(step, Challenge):
        _save_challenge(step, next_url)
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
        session.pop(_CHALLENGE, None)
        return _failed(template, form, SignInError(Failure.UNAVAILABLE))
    start_session(User(sub=identity.sub, email=identity.email), identity.expires_at)
    return redirect(next_url, code=303)


def _failed(
    template: str, form: FlaskForm, error: SignInError, next_url: str = "/"
) -> Response | tuple[str, int]:
    if error.failure is Failure.EXPIRED:
        return _restart(EXPIRED_CHALLENGE)
    if error.failure is Failure.UNSUPPORTED:
        session.pop(_CHALLENGE, None)  # Cognito has moved past the one we hold
    message, status = MESSAGES.get(error.failure, MESSAGES[Failure.UNAVAILABLE])
    form.form_errors.append(message.format(detail=error.detail))
    return _render(template, form, status, next_url=next_url)


def _render(template: str, form: FlaskForm, status: int, next_url: str = "/") -> tuple[str, int]:
    return render_template(template, form=form, next=None if next_url == "/" else next_url), status


def _restart(message: str = "Please sign in first.") -> Response:
    session.pop(_CHALLENGE, None)
    flash(message, "info")
    return redirect(url_for("auth.login"), code=303)


def _fernet() -> Fernet:
    # Imported here: cryptography costs ~30 ms of every cold start otherwise,
    # and only a challenged sign-in needs it.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = current_app.secret_key
    raw = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    # A key of its own, so a leaked challenge key could not sign sessions.
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"kakeibo-export challenge")
    return Fernet(base64.urlsafe_b64encode(key.derive(raw)))


def _save_challenge(challenge: Challenge, next_url: str) -> None:
    # Flask's cookie is signed, not encrypted: Cognito's session string would let
    # whoever reads the cookie answer the challenge, so it is sealed.
    data = {
        "name": challenge.name,
        "session": challenge.session,
        "username": challenge.username,
        "next": next_url,
    }
    session[_CHALLENGE] = _fernet().encrypt(json.dumps(data).encode()).decode()


def _load_challenge(name: str) -> tuple[Challenge, str] | None:
    from cryptography.fernet import InvalidToken

    sealed = session.get(_CHALLENGE)
    if not isinstance(sealed, str):
        return None
    try:
        data = json.loads(_fernet().decrypt(sealed, ttl=CHALLENGE_TTL))
        challenge = Challenge(name=data["name"], session=data["session"], username=data["username"])
        next_url = safe_next(data["next"])
    except (InvalidToken, ValueError, KeyError, TypeError):
        session.pop(_CHALLENGE, None)
        return None
    if challenge.name != name:
        return None
    return challenge, next_url

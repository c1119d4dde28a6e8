"""The account page: set up an authenticator app for sign-in, or turn it off.

Every Cognito call here acts as the user, with the access token kept (sealed)
in the session at sign-in. A session without one (started before this page
existed) or one Cognito refuses is ended: the user signs in again and comes back.
The new authenticator secret waits sealed in the session between the page
that shows it and the code that proves the app has it. Turning the app off asks
for the password first, checked (and counted) as a sign-in would be.
"""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...identity import cognito, selfservice
from ...identity.cognito import Failure, SignInError
from ...identity.selfservice import AccountError
from ..auth import login_required, signed_in_user
from ..auth.access import access_token
from ..auth.attempts import Throttled, count_attempt, too_many_attempts
from ..auth.forms import MfaForm
from ..auth.messages import MESSAGES, account_message
from ..auth.sealing import seal, unseal
from ..context import get_clients, get_settings
from .forms import ButtonForm, DisableTotpForm
from .qr import qr_svg

bp = Blueprint("account", __name__, url_prefix="/account")

_SECRET = "totp_secret"
_PURPOSE = b"kakeibo-export totp secret"
#: How long a shown secret may wait for its first code.
SECRET_TTL = 15 * 60


class _SignInAgain(Exception):
    """The session has no usable access token."""


@bp.errorhandler(_SignInAgain)
def _sign_in_again(error: _SignInAgain) -> Response:
    session.clear()
    flash(_("Please sign in again to change your account's security settings."), "info")
    return redirect(url_for("auth.login", next=url_for("account.index")), code=303)


def _token() -> str:
    token = access_token()
    if token is None:
        raise _SignInAgain
    return token


def _refused(error: AccountError) -> None:
    """Turn a refused access token into a new sign-in (other failures go on)."""
    if error.failure is Failure.SIGNED_OUT:
        raise _SignInAgain from error


@bp.get("")
@login_required
def index() -> str | tuple[str, int]:
    """Show the account's sign-in security: is an authenticator app set up?"""
    try:
        enabled = selfservice.totp_enabled(get_clients().cognito, _token())
    except AccountError as exc:
        _refused(exc)
        message, status = account_message(exc.failure)
        return render_template("account/index.html", enabled=None, problem=message), status
    return render_template("account/index.html", enabled=enabled, problem=None, form=ButtonForm())


@bp.post("/authenticator/new")
@login_required
def start_totp() -> Response | tuple[str, int]:
    """Have Cognito make a new authenticator secret, then show it."""
    form = ButtonForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.index"), code=303)
    try:
        secret = selfservice.start_totp(get_clients().cognito, _token())
    except AccountError as exc:
        _refused(exc)
        message, status = account_message(exc.failure)
        return render_template("account/index.html", enabled=None, problem=message), status
    session[_SECRET] = seal(_PURPOSE, secret)
    return redirect(url_for("account.totp"), code=303)


@bp.route("/authenticator", methods=["GET", "POST"])
@login_required
def totp() -> Response | tuple[str, int]:
    """Show the QR code and secret; check the app's first code and turn the app on."""
    secret = unseal(_PURPOSE, session.get(_SECRET), SECRET_TTL)
    if secret is None:
        session.pop(_SECRET, None)
        flash(_("Setting up took too long. Please start again."), "info")
        return redirect(url_for("account.index"), code=303)
    form = MfaForm()
    if not form.validate_on_submit():
        return _setup_page(secret, form, 400 if form.is_submitted() else 200)
    try:
        selfservice.enable_totp(get_clients().cognito, _token(), form.code.data)
    except AccountError as exc:
        _refused(exc)
        message, status = account_message(exc.failure)
        if exc.failure is Failure.BAD_CODE:
            form.code.errors = [message]
            return _setup_page(secret, form, 400)
        form.form_errors.append(message)
        return _setup_page(secret, form, status)
    session.pop(_SECRET, None)
    flash(
        _(
            "Your authenticator app is set up. From your next sign-in, Kakeibo Export asks "
            "for its code after your password."
        ),
        "success",
    )
    return redirect(url_for("account.index"), code=303)


@bp.route("/authenticator/off", methods=["GET", "POST"])
@login_required
def disable_totp() -> Response | tuple[str, int]:
    """Ask for the password, then stop asking for an authenticator code at sign-in."""
    form = DisableTotpForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("account/disable.html", form=form), status
    refused = _check_password(form)
    if refused is not None:
        return refused
    try:
        selfservice.disable_totp(get_clients().cognito, _token())
    except AccountError as exc:
        _refused(exc)
        message, status = account_message(exc.failure)
        form.form_errors.append(message)
        return render_template("account/disable.html", form=form), status
    flash(
        _("The authenticator app is turned off. You sign in with your password alone."),
        "success",
    )
    return redirect(url_for("account.index"), code=303)


def _check_password(form: DisableTotpForm) -> Response | tuple[str, int] | None:
    """Check the password as a sign-in would (counted like one); return the refusal, if any."""
    email = signed_in_user().email
    try:
        attempt = count_attempt(email)
    except Throttled as exc:
        form.form_errors.append(too_many_attempts(exc.wait))
        response = make_response(render_template("account/disable.html", form=form), 429)
        response.headers["Retry-After"] = str(exc.wait)
        return response
    try:
        # Right password: Cognito answers with tokens or, as here, the code's challenge.
        cognito.start_sign_in(
            get_clients().cognito, get_settings().cognito_client_id, email, form.password.data
        )
    except SignInError as exc:
        if exc.failure is Failure.BAD_CREDENTIALS:
            form.password.errors = [_("That password is not right.")]
            return render_template("account/disable.html", form=form), 401
        attempt.succeeded()
        message, status = MESSAGES.get(exc.failure, MESSAGES[Failure.UNAVAILABLE])
        form.form_errors.append(str(message) % {"detail": exc.detail})
        return render_template("account/disable.html", form=form), status
    attempt.succeeded()
    return None


def _setup_page(secret: str, form: MfaForm, status: int) -> tuple[str, int]:
    email = signed_in_user().email
    uri = selfservice.totp_uri(secret, email, issuer=str(_("Kakeibo Export")))
    qr = qr_svg(uri, _("QR code to scan with your authenticator app"))
    # Groups of four are easier to type into an app by hand.
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)).upper()
    page = render_template(
        "account/totp.html", form=form, qr=qr, secret=spaced, uri=uri, email=email
    )
    return page, status

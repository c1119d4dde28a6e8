"""Who the user is: the session of a verified sign-in, and the guard on every private page.

The identity comes only from an ID token the server verified; the session
cookie (signed by Flask) holds just the verified ``sub``, the email for display,
when the Cognito session ends, and the session's own id and start. Every
request with a session also reads the user's sign-out marker (one ``GetItem``,
see ``identity.sessions``; on a page marked ``reads_user_items``, from the page's
one read of the user's partition), so a cookie kept after sign-out opens nothing.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from ...apptable import UserItemsError
from ...identity.sessions import SessionCheckError, SessionStore, now_ms
from ..context import services, user_items, view_reads_user_items

P = ParamSpec("P")
R = TypeVar("R")

EXPIRED_SESSION = _l("Your session has ended. Please sign in again.")
ENDED_EVERYWHERE = _l(
    "You were signed out in every browser (with “Sign out everywhere”, or because the "
    "password was changed). Please sign in again."
)


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
    # What a sign-out names: this session alone, or every one begun before it.
    session["sid"] = secrets.token_urlsafe(16)
    session["iat"] = now_ms()


def session_id() -> tuple[str, int]:
    """Return the current session's id and when it began (epoch ms; 0 if it predates ids)."""
    sid, iat = session.get("sid"), session.get("iat")
    return (sid if isinstance(sid, str) else ""), (iat if isinstance(iat, int) else 0)


def current_user() -> User | None:
    """Return the signed-in user, or None when there is no live session."""
    if "user" in g:
        user: User | None = g.user
        return user
    sub, email, exp = session.get("sub"), session.get("email"), session.get("exp")
    user = None
    if isinstance(sub, str) and isinstance(email, str) and isinstance(exp, int):
        if exp > time.time():
            user = User(sub=sub, email=email) if _still_signed_in(sub) else None
        else:
            # The ID token has expired, so has Cognito's sign-in: no silent refresh.
            session.clear()
            flash(str(EXPIRED_SESSION), "info")
    g.user = user
    return user


def _still_signed_in(sub: str) -> bool:
    """Check the server's sign-out marker: a signed-out session is cleared here."""
    try:
        if view_reads_user_items():  # the page reads the whole partition: one Query for both
            marker = SessionStore.marker_in(user_items(sub))
        else:
            marker = services().sessions.marker(sub)
    except (SessionCheckError, UserItemsError):
        g.user = None  # the error page must not ask again
        # Fail closed: without the marker nobody can tell a signed-out cookie.
        abort(503, description=_("Your sign-in could not be checked just now."))
    sid, issued_at = session_id()
    if marker.allows(sid, issued_at):
        return True
    session.clear()
    if marker.ended_everywhere(issued_at):
        # Said once, on the page this browser is sent to next (the sign-in page).
        flash(str(ENDED_EVERYWHERE), "info")
    return False


def signed_in_user() -> User:
    """Return the signed-in user of a ``login_required`` view (401 if there is none)."""
    user = current_user()
    if user is None:  # login_required ran first; this only narrows the type
        abort(401)
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

"""Who the user is: the session, and the guard on every private page.

The identity comes only from an ID token the server verified; the session
cookie (signed by Flask) holds just the verified ``sub``, the email for display
and when the Cognito session ends.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import Blueprint, flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

bp = Blueprint("auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")


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
    session.permanent = False


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
            session.clear()
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


@bp.post("/logout")
def logout() -> Response:
    """Clear the session and return to the sign-in page."""
    session.clear()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.app_context_processor
def inject_user() -> dict[str, User | None]:
    """Make ``current_user`` available to every template."""
    return {"current_user": current_user()}

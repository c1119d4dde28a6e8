"""Each step that checks a secret counts an attempt first: password, app code, reset code.

The counters are the sign-in throttle's (``identity.throttle``), per account
(the email address typed) and per client (API Gateway's ``sourceIp``, not a
header). A view counts the attempt before it asks Cognito, and gives it back
when the secret was right or Cognito failed for another reason.
"""

from __future__ import annotations

import logging
import math

from flask import request
from flask_babel import ngettext

from ...identity.throttle import Attempt, Throttled, ThrottleError, uncounted
from ..context import clock, signin_throttle

__all__ = ["Attempt", "Throttled", "count_attempt", "too_many_attempts"]

log = logging.getLogger(__name__)


def count_attempt(account: str) -> Attempt:
    """Count an attempt for ``account`` from this client; raise Throttled past the limits."""
    # API Gateway's own view of the caller (requestContext.http.sourceIp), not a header.
    address = request.remote_addr or "unknown"
    try:
        return signin_throttle().attempt(account, address, now=clock())
    except ThrottleError as error:
        # Open, not shut: Cognito's own lockout and threat protection still stand,
        # and a table hiccup must not lock everyone out.
        log.error("The sign-in throttle could not be reached: %s", error.__cause__)
        return uncounted()


def too_many_attempts(wait: int) -> str:
    """Return the refusal: the same words whether or not the account exists."""
    minutes = max(1, math.ceil(wait / 60))
    return str(
        ngettext(
            "Too many attempts. Try again in %(num)d minute.",
            "Too many attempts. Try again in %(num)d minutes.",
            minutes,
        )
    )

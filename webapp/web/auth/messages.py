"""Our words for every Cognito failure, in one place: Cognito's own sentences never reach a page.

``cognito`` and ``account`` turn Cognito's error codes into a ``Failure``;
this module says what each one means to the user, and the status of the page
that says it. Password problems list the rules of the pool's own policy.
"""

from __future__ import annotations

from babel.lists import format_list
from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...identity.cognito import Failure
from ...identity.selfservice import PasswordPolicy
from .policy import password_policy

#: What the user reads for each failure, and the status of the page that says it.
MESSAGES: dict[Failure, tuple[LazyString, int]] = {
    Failure.BAD_CREDENTIALS: (_l("Incorrect email address or password."), 401),
    Failure.RESET_REQUIRED: (
        _l(
            "Your password has to be reset before you can sign in. Ask the person who runs "
            "Kakeibo Export for a new temporary password."
        ),
        403,
    ),
    Failure.NOT_CONFIRMED: (
        _l(
            "This account has not been confirmed yet. Confirm it with the code you received "
            "by email, or ask the person who runs Kakeibo Export."
        ),
        403,
    ),
    Failure.TOO_MANY: (_l("Too many sign-in attempts. Wait a few minutes, then try again."), 429),
    Failure.BAD_CODE: (
        _l("That code is not right. Enter the code your authenticator app shows now."),
        401,
    ),
    Failure.UNSUPPORTED: (
        _l(
            "This account needs a sign-in step that Kakeibo Export does not support "
            "(%(detail)s). Ask the person who runs Kakeibo Export for help."
        ),
        403,
    ),
    Failure.UNAVAILABLE: (
        _l("Sign-in is not available right now. Please try again in a few minutes."),
        503,
    ),
    # The account pages (password reset, authenticator app).
    Failure.BAD_PASSWORD: (_l("Choose a stronger password."), 400),
    # Wrong, expired, used, or for an address without an account: one answer for all.
    Failure.BAD_RESET_CODE: (
        _l(
            "That code is not right, has expired or was already used. Enter the code from "
            "the latest email we sent, or ask for a new one."
        ),
        400,
    ),
    Failure.BAD_INPUT: (
        _l("Something in the form could not be used. Check what you typed and try again."),
        400,
    ),
    Failure.SIGNED_OUT: (_l("Your session has ended. Please sign in again."), 401),
}
#: The account pages' words where the sign-in pages' would not fit.
ACCOUNT_MESSAGES: dict[Failure, tuple[LazyString, int]] = {
    **MESSAGES,
    Failure.TOO_MANY: (_l("Too many attempts. Wait a few minutes, then try again."), 429),
    Failure.UNAVAILABLE: (
        _l("This is not available right now. Please try again in a few minutes."),
        503,
    ),
}
EXPIRED_CHALLENGE = _l("That sign-in took too long and has expired. Please sign in again.")


def account_message(failure: Failure) -> tuple[str, int]:
    """Return what an account page says for ``failure``, and its status."""
    message, status = ACCOUNT_MESSAGES.get(failure, ACCOUNT_MESSAGES[Failure.UNAVAILABLE])
    if failure is Failure.BAD_PASSWORD:
        return weak_password(), status
    return str(message), status


def describe_rules(policy: PasswordPolicy) -> str:
    """Say ``policy`` in words: "at least 12 characters, with upper-case and lower-case ..."."""
    kinds: list[str] = []
    if policy.uppercase and policy.lowercase:
        kinds.append(_("upper-case and lower-case letters"))
    elif policy.uppercase:
        kinds.append(_("an upper-case letter"))
    elif policy.lowercase:
        kinds.append(_("a lower-case letter"))
    if policy.digits:
        kinds.append(_("a digit"))
    if policy.symbols:
        kinds.append(_("a symbol such as ! or #"))
    if not kinds:
        return str(_("at least %(count)s characters", count=policy.minimum_length))
    return str(
        _(
            "at least %(count)s characters, with %(kinds)s",
            count=policy.minimum_length,
            kinds=format_list(kinds, locale=get_locale()),
        )
    )


def password_hint() -> str:
    """Return the hint under a new-password field: the pool's rules."""
    policy = password_policy()
    if policy is None:
        return str(_("Use a long password with different kinds of characters."))
    return str(_("Use %(rules)s.", rules=describe_rules(policy)))


def weak_password(policy: PasswordPolicy | None = None) -> str:
    """Return the error for a password the pool's policy refuses."""
    policy = policy or password_policy()
    if policy is None:
        return str(
            _(
                "Choose a stronger password: this one breaks the account's password rules. "
                "Use a longer one with different kinds of characters."
            )
        )
    return str(_("Choose a stronger password: use %(rules)s.", rules=describe_rules(policy)))

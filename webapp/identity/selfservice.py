"""Account self-service over Cognito: password reset, the authenticator app, the password policy.

No Flask here, like ``cognito``. Every Cognito error becomes an ``AccountError``
whose ``failure`` the views map to words (``web/auth/messages.py``); nothing
from botocore, and none of Cognito's own sentences, leaves this module.

Password reset never tells whether an address has an account: Cognito's
answers for an unknown user, or one whose password cannot be reset (still on a
temporary password, disabled, no verified email), are swallowed here, so the
page says the same thing for all of them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code
from .cognito import Failure

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

log = logging.getLogger(__name__)

#: The name authenticator apps show beside the code.
ISSUER = "Kakeibo Export"
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"
#: What Cognito counts as a symbol in a password.
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"


class AccountError(Exception):
    """An account step failed; ``failure`` says why (Cognito's text is only logged)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.value)
        self.failure = failure


# What each Cognito error code means to the user, whichever account call answered.
_FAILURES: dict[str, Failure] = {
    "TooManyRequestsException": Failure.TOO_MANY,
    "LimitExceededException": Failure.TOO_MANY,
    "TooManyFailedAttemptsException": Failure.TOO_MANY,
    "InvalidPasswordException": Failure.BAD_PASSWORD,
    # Wrong, expired or used: one answer, whoever the address belongs to (see below).
    "CodeMismatchException": Failure.BAD_RESET_CODE,
    "ExpiredCodeException": Failure.BAD_RESET_CODE,
    # VerifySoftwareToken answers a wrong code with this one.
    "EnableSoftwareTokenMFAException": Failure.BAD_CODE,
    "InvalidParameterException": Failure.BAD_INPUT,
}
# For calls made with the user's access token: it was revoked or has expired.
_TOKEN_FAILURES: dict[str, Failure] = {
    "NotAuthorizedException": Failure.SIGNED_OUT,
    "UserNotFoundException": Failure.SIGNED_OUT,
    "PasswordResetRequiredException": Failure.SIGNED_OUT,
    "UserNotConfirmedException": Failure.SIGNED_OUT,
    # A wrong authenticator code.
    "CodeMismatchException": Failure.BAD_CODE,
}


def _failure(exc: ClientError | BotoCoreError, overrides: dict[str, Failure]) -> AccountError:
    if isinstance(exc, BotoCoreError):
        log.error("Cognito could not be reached: %s", exc)
        return AccountError(Failure.UNAVAILABLE)
    code = error_code(exc)
    failure = overrides.get(code) or _FAILURES.get(code)
    if failure is None:
        message = exc.response.get("Error", {}).get("Message", "")
        log.error("Cognito refused an account step: %s %s", code, message)
        return AccountError(Failure.UNAVAILABLE)
    return AccountError(failure)


# --- Password reset ------------------------------------------------------------------------------


def request_password_reset(
    cognito: CognitoIdentityProviderClient, client_id: str, email: str
) -> None:
    """Ask Cognito to mail ``email`` a reset code; say nothing about whether it has an account."""
    try:
        cognito.forgot_password(ClientId=client_id, Username=email)
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc) if isinstance(exc, ClientError) else ""
        if code in {
            # No such user (a pool without PreventUserExistenceErrors says so) ...
            "UserNotFoundException",
            # ... or one whose password cannot be reset: temporary password,
            # disabled, or no verified email to send the code to.
            "NotAuthorizedException",
            "InvalidParameterException",
            "UserNotConfirmedException",
        }:
            log.info("No reset code sent (%s)", code)
            return
        raise _failure(exc, {}) from exc


def confirm_password_reset(
    cognito: CognitoIdentityProviderClient, client_id: str, email: str, code: str, password: str
) -> None:
    """Set ``password`` for ``email`` if ``code`` is the one Cognito mailed."""
    try:
        cognito.confirm_forgot_password(
            ClientId=client_id, Username=email, ConfirmationCode=code, Password=password
        )
    except (ClientError, BotoCoreError) as exc:
        # An unknown address reads as a wrong code, as Cognito itself answers
        # with PreventUserExistenceErrors (moto says ResourceNotFound), and an
        # expired or used code too: otherwise the words would tell an address
        # with an account (whose code could expire) from one without.
        raise _failure(
            exc,
            {
                "UserNotFoundException": Failure.BAD_RESET_CODE,
                "ResourceNotFoundException": Failure.BAD_RESET_CODE,
                "NotAuthorizedException": Failure.BAD_RESET_CODE,
            },
        ) from exc


# --- The authenticator app (TOTP) ----------------------------------------------------------------


def totp_enabled(cognito: CognitoIdentityProviderClient, access_token: str) -> bool:
    """Return whether the user signs in with an authenticator app code."""
    try:
        user = cognito.get_user(AccessToken=access_token)
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, _TOKEN_FAILURES) from exc
    return SOFTWARE_TOKEN_MFA in (user.get("UserMFASettingList") or [])


def start_totp(cognito: CognitoIdentityProviderClient, access_token: str) -> str:
    """Make a new authenticator secret for the user and return it (base32)."""
    try:
        response = cognito.associate_software_token(AccessToken=access_token)
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, _TOKEN_FAILURES) from exc
    return response["SecretCode"]


def enable_totp(cognito: CognitoIdentityProviderClient, access_token: str, code: str) -> None:
    """Check the app's first ``code``, then make the app the user's sign-in step."""
    try:
        response = cognito.verify_software_token(
            AccessToken=access_token, UserCode=code, FriendlyDeviceName=ISSUER
        )
        if response.get("Status") != "SUCCESS":
            raise AccountError(Failure.BAD_CODE)
        cognito.set_user_mfa_preference(
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, _TOKEN_FAILURES) from exc


def disable_totp(cognito: CognitoIdentityProviderClient, access_token: str) -> None:
    """Stop asking the user for an authenticator code at sign-in."""
    try:
        cognito.set_user_mfa_preference(
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": False, "PreferredMfa": False},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, _TOKEN_FAILURES) from exc


def totp_uri(secret: str, email: str, issuer: str = ISSUER) -> str:
    """Return the ``otpauth://`` URI an authenticator app reads from the QR code.

    ``issuer`` is the name the app shows beside the code: the site's name in the language
    of the page the app was set up from (the sign-in pages then say that name).
    """
    label = quote(f"{issuer}:{email}", safe=":@")
    query = urlencode({"secret": secret, "issuer": issuer}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


# --- The password policy -------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPolicy:
    """The pool's password rules (Cognito's defaults when unset)."""

    minimum_length: int = 8
    uppercase: bool = True
    lowercase: bool = True
    digits: bool = True
    symbols: bool = True

    def broken(self, password: str) -> list[str]:
        """Return the names of the rules ``password`` breaks (``length``, ``uppercase``, ...)."""
        checks = {
            "length": len(password) >= self.minimum_length,
            "uppercase": not self.uppercase or re.search(r"[A-Z]", password) is not None,
            "lowercase": not self.lowercase or re.search(r"[a-z]", password) is not None,
            "digits": not self.digits or re.search(r"[0-9]", password) is not None,
            "symbols": not self.symbols or any(c in SYMBOLS for c in password),
        }
        return [name for name, ok in checks.items() if not ok]


def read_password_policy(
    cognito: CognitoIdentityProviderClient, pool_id: str
) -> PasswordPolicy | None:
    """Return the pool's password policy, or None when Cognito does not say."""
    try:
        pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    except (ClientError, BotoCoreError) as exc:
        log.warning("The pool's password policy could not be read: %s", exc)
        return None
    rules = pool.get("Policies", {}).get("PasswordPolicy", {})
    return PasswordPolicy(
        minimum_length=int(rules.get("MinimumLength", 8)),
        uppercase=bool(rules.get("RequireUppercase", False)),
        lowercase=bool(rules.get("RequireLowercase", False)),
        digits=bool(rules.get("RequireNumbers", False)),
        symbols=bool(rules.get("RequireSymbols", False)),
    )

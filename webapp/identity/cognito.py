"""Cognito: sign in (``USER_PASSWORD_AUTH`` and the challenges a pool may ask), create users.

No Flask here. Each step returns either the tokens or the next challenge, and
every Cognito error becomes a ``SignInError`` whose ``failure`` the views map
to a message; nothing from botocore leaves this module.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

log = logging.getLogger(__name__)

NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"
#: The challenges this app can answer; any other one is refused with a message.
SUPPORTED_CHALLENGES = frozenset({NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA})


class Failure(enum.Enum):
    """Why a sign-in step did not succeed, as the user needs to know it."""

    BAD_CREDENTIALS = "bad-credentials"
    RESET_REQUIRED = "reset-required"
    NOT_CONFIRMED = "not-confirmed"
    TOO_MANY = "too-many"
    BAD_PASSWORD = "bad-password"
    BAD_CODE = "bad-code"
    EXPIRED = "expired"
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"
    # Account self-service (see ``account``).
    BAD_RESET_CODE = "bad-reset-code"
    BAD_INPUT = "bad-input"
    SIGNED_OUT = "signed-out"


class SignInError(Exception):
    """A sign-in step failed; ``failure`` says why, ``detail`` is Cognito's own text."""

    def __init__(self, failure: Failure, detail: str = "") -> None:
        super().__init__(f"{failure.value}: {detail}" if detail else failure.value)
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class Tokens:
    """The tokens of a completed sign-in: the ID token says who, the access token acts."""

    id_token: str
    #: Needed for the user's own account calls (authenticator app set-up).
    access_token: str = ""


@dataclass(frozen=True)
class Challenge:
    """A question Cognito asks before it hands out tokens."""

    name: str
    session: str
    username: str


Step = Tokens | Challenge

# Codes that mean "slow down", whichever API answered. Cognito reports a locked
# account as NotAuthorizedException "Password attempts exceeded" (see _failure).
_TOO_MANY = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}
)


def start_sign_in(
    cognito: CognitoIdentityProviderClient, client_id: str, email: str, password: str
) -> Step:
    """Send email and password; return the tokens or Cognito's first challenge."""
    try:
        response = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, challenge=False) from exc
    return _step(dict(response), username=email)


def answer_new_password(
    cognito: CognitoIdentityProviderClient, client_id: str, challenge: Challenge, password: str
) -> Step:
    """Answer NEW_PASSWORD_REQUIRED with the user's new password."""
    return _respond(cognito, client_id, challenge, {"NEW_PASSWORD": password})


def answer_mfa_code(
    cognito: CognitoIdentityProviderClient, client_id: str, challenge: Challenge, code: str
) -> Step:
    """Answer SOFTWARE_TOKEN_MFA with the code from the user's authenticator app."""
    return _respond(cognito, client_id, challenge, {"SOFTWARE_TOKEN_MFA_CODE": code})


def _respond(
    cognito: CognitoIdentityProviderClient,
    client_id: str,
    challenge: Challenge,
    answers: dict[str, str],
) -> Step:
    try:
        response = cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName=challenge.name,  # type: ignore[arg-type]
            Session=challenge.session,
            ChallengeResponses={"USERNAME": challenge.username, **answers},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _failure(exc, challenge=True) from exc
    return _step(dict(response), username=challenge.username)


def _step(response: dict[str, Any], username: str) -> Step:
    result = response.get("AuthenticationResult") or {}
    if result.get("IdToken"):
        return Tokens(id_token=result["IdToken"], access_token=result.get("AccessToken", ""))
    name = response.get("ChallengeName")
    session = response.get("Session")
    if not name or not session:
        log.error("Cognito answered neither tokens nor a challenge: %s", sorted(response))
        raise SignInError(Failure.UNAVAILABLE)
    if name not in SUPPORTED_CHALLENGES:
        raise SignInError(Failure.UNSUPPORTED, name)
    # With email as the username attribute Cognito's own username is the sub;
    # either that or the email is accepted when answering.
    parameters = response.get("ChallengeParameters") or {}
    username = parameters.get("USERNAME") or parameters.get("USER_ID_FOR_SRP") or username
    return Challenge(name=name, session=session, username=username)


def _failure(exc: ClientError | BotoCoreError, *, challenge: bool) -> SignInError:
    if isinstance(exc, BotoCoreError):
        log.error("Cognito could not be reached: %s", exc)
        return SignInError(Failure.UNAVAILABLE)
    code, message = error_code(exc), str(exc.response.get("Error", {}).get("Message", ""))
    if code in _TOO_MANY or (
        code == "NotAuthorizedException" and "attempts exceeded" in message.lower()
    ):
        return SignInError(Failure.TOO_MANY)
    if code == "PasswordResetRequiredException":
        return SignInError(Failure.RESET_REQUIRED)
    if code == "UserNotConfirmedException":
        return SignInError(Failure.NOT_CONFIRMED)
    if code == "InvalidPasswordException":
        return SignInError(Failure.BAD_PASSWORD, message)
    if code in {"CodeMismatchException", "ExpiredCodeException"}:
        return SignInError(Failure.BAD_CODE)
    if challenge and code in {
        "NotAuthorizedException",
        "ResourceNotFoundException",
        "UserNotFoundException",
    }:
        # Cognito's challenge session lasts 3 to 15 minutes; after that (or once
        # used) it answers NotAuthorizedException ("session is expired"), moto
        # ResourceNotFoundException.
        return SignInError(Failure.EXPIRED)
    if code in {"NotAuthorizedException", "UserNotFoundException"}:
        # One answer for "no such user" and "wrong password", as the pool's
        # PreventUserExistenceErrors intends.
        return SignInError(Failure.BAD_CREDENTIALS)
    log.error("Cognito refused the sign-in: %s %s", code, message)
    return SignInError(Failure.UNAVAILABLE)


def sign_out_everywhere(
    cognito: CognitoIdentityProviderClient, pool_id: str, username: str
) -> bool:
    """Revoke every refresh and access token Cognito gave the user; return whether it did.

    ``username`` is the email the user signs in with (Cognito takes it for the
    username in a pool that signs in by email).

    Best effort: the app's own sign-out marker is what ends its sessions (the app
    keeps no Cognito token after sign-in); this also ends the user's Cognito
    sessions. A failure is logged, never shown.
    """
    try:
        cognito.admin_user_global_sign_out(UserPoolId=pool_id, Username=username)
    except (ClientError, BotoCoreError) as exc:
        log.warning("Cognito's global sign-out failed (the app's sessions still ended): %s", exc)
        return False
    return True


def user_sub(cognito: CognitoIdentityProviderClient, pool_id: str, email: str) -> str | None:
    """Return the ``sub`` of the user who signs in with ``email``, or None if Cognito won't say."""
    try:
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=email)
    except (ClientError, BotoCoreError) as exc:
        log.warning("Cognito did not say whose account an address is: %s", exc)
        return None
    attributes = {a["Name"]: a.get("Value", "") for a in user.get("UserAttributes", [])}
    return attributes.get("sub") or None


def create_user(
    cognito: CognitoIdentityProviderClient,
    pool_id: str,
    email: str,
    password: str | None = None,
    temporary_password: str | None = None,
) -> str:
    """Create a confirmed user and return its ``sub``.

    With ``password`` the user can sign in at once; otherwise Cognito asks for a
    new password at first sign-in.
    """
    kwargs: dict[str, Any] = {}
    if temporary_password:
        kwargs["TemporaryPassword"] = temporary_password
    user = cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
        MessageAction="SUPPRESS",
        **kwargs,
    )["User"]
    if password:
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=email, Password=password, Permanent=True
        )
    attributes = {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}
    return attributes["sub"]

"""A sign-in Cognito interrupted with a challenge, sealed into the session until answered.

Flask's cookie is signed, not encrypted: Cognito's session string would let
whoever reads the cookie answer the challenge, so it is encrypted with a key of
its own (derived from the app's secret) and expires with Cognito's limit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flask import session

from ...identity.cognito import Challenge
from .sealing import fernet
from .session import safe_next

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

#: Cognito keeps a challenge open 3 minutes by default and 15 at most.
CHALLENGE_TTL = 15 * 60
_CHALLENGE = "challenge"


def _fernet() -> Fernet:
    return fernet(b"kakeibo-export challenge")


def save_challenge(challenge: Challenge, next_url: str, *, account: str) -> None:
    """Keep ``challenge`` (encrypted), where to go after it and the email typed, in the session.

    ``account`` is what the attempts at the challenge are counted against, as the
    password was (``attempts``): the address typed, not Cognito's username.
    """
    data = {
        "name": challenge.name,
        "session": challenge.session,
        "username": challenge.username,
        "next": next_url,
        "account": account,
    }
    session[_CHALLENGE] = _fernet().encrypt(json.dumps(data).encode()).decode()


def load_challenge(name: str) -> tuple[Challenge, str, str] | None:
    """Return the pending challenge called ``name``, its next URL and account, or None."""
    from cryptography.fernet import InvalidToken

    sealed = session.get(_CHALLENGE)
    if not isinstance(sealed, str):
        return None
    try:
        data = json.loads(_fernet().decrypt(sealed, ttl=CHALLENGE_TTL))
        challenge = Challenge(name=data["name"], session=data["session"], username=data["username"])
        next_url = safe_next(data["next"])
        account = str(data.get("account") or challenge.username)
    except (InvalidToken, ValueError, KeyError, TypeError):
        session.pop(_CHALLENGE, None)
        return None
    if challenge.name != name:
        return None
    return challenge, next_url, account


def drop_challenge() -> None:
    """Forget any pending challenge."""
    session.pop(_CHALLENGE, None)

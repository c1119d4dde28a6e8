"""The signed-in user's Cognito access token, sealed into the session for account calls.

Only the account pages use it (authenticator app set-up acts as the user, with
the user's own token); it lives as long as the session, which ends with the
ID token (both last an hour).
"""

from __future__ import annotations

import time

from flask import session

from .sealing import seal, unseal

_ACCESS = "access"
_PURPOSE = b"kakeibo-export access token"
#: Cognito's longest access-token life: nothing sealed outlives it.
ACCESS_TTL = 24 * 3600


def keep_access_token(token: str) -> None:
    """Keep ``token`` (encrypted) in the session; an empty one is not kept."""
    if token:
        session[_ACCESS] = seal(_PURPOSE, token)
    else:
        session.pop(_ACCESS, None)


def access_token() -> str | None:
    """Return the session's access token, or None (an older session, or a broken seal)."""
    token = unseal(_PURPOSE, session.get(_ACCESS), ACCESS_TTL)
    exp = session.get("exp")
    if token is None or not isinstance(exp, int) or exp <= time.time():
        return None
    return token


def drop_access_token() -> None:
    """Forget the access token (it was refused)."""
    session.pop(_ACCESS, None)

"""Encrypt what the session cookie must carry but nobody holding the cookie may read.

Flask's cookie is signed, not encrypted. Each purpose gets a key of its own,
derived from the app's secret, so a leaked key of one could not open the other
or sign sessions.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


def fernet(purpose: bytes) -> Fernet:
    """Return the cipher for ``purpose`` (e.g. ``b"kakeibo-export challenge"``)."""
    # Imported here: cryptography costs ~30 ms of every cold start otherwise,
    # and only some pages need it.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = current_app.secret_key
    raw = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose)
    return Fernet(base64.urlsafe_b64encode(key.derive(raw)))


def seal(purpose: bytes, data: str) -> str:
    """Return ``data`` encrypted (and authenticated) for ``purpose``."""
    return fernet(purpose).encrypt(data.encode()).decode()


def unseal(purpose: bytes, sealed: object, ttl: int) -> str | None:
    """Return what ``seal`` sealed for ``purpose`` at most ``ttl`` seconds ago, or None."""
    from cryptography.fernet import InvalidToken

    if not isinstance(sealed, str):
        return None
    try:
        return fernet(purpose).decrypt(sealed, ttl=ttl).decode()
    except (InvalidToken, ValueError):
        return None

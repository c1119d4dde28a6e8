"""Verify Cognito ID tokens before trusting anything they say.

The ID token arrives from Cognito over TLS, server to server, but is still
checked in full: RS256 signature against the pool's JWKS, ``iss``, ``aud``,
``token_use == "id"`` and ``exp``. Only the verified ``sub`` identifies a user.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..settings import Settings

if TYPE_CHECKING:
    import jwt

# PyJWT pulls in cryptography (~30 ms); it is imported on first use, not in the
# Lambda init phase, so the cold start of the handler stays close to Flask's.

#: The only algorithm Cognito signs ID tokens with; anything else is refused
#: before a key is even looked up (``none``, or HS256 "signed" with the public key).
ALGORITHM = "RS256"
#: Cognito rotates its keys rarely; a token with an unknown ``kid`` refetches anyway.
JWKS_LIFESPAN = 3600
#: A JWKS fetch must leave room in API Gateway's 30 s budget.
JWKS_TIMEOUT = 5
#: At most one forced refetch per this many seconds for unknown ``kid`` values.
JWKS_COOLDOWN = 30
#: Tolerated clock difference between Cognito and Lambda, for ``exp`` and ``iat``.
CLOCK_SKEW = 10

_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "token_use"]

# Kept at module level so warm Lambda invocations reuse the fetched key set.
_clients: dict[str, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


class TokenError(Exception):
    """The token is not a valid ID token of our pool and app client."""


@dataclass(frozen=True)
class Identity:
    """What a verified ID token says about its user."""

    sub: str
    email: str
    expires_at: int


def jwks_url(settings: Settings) -> str:
    """Return where the pool publishes its signing keys."""
    # Settings refuses ``jwks_url`` outside local mode: moto signs every pool's
    # tokens with one public key, so an override must never reach production.
    return settings.jwks_url or f"{settings.issuer}/.well-known/jwks.json"


def make_jwks_client(url: str, *, cooldown: float = JWKS_COOLDOWN) -> jwt.PyJWKClient:
    """Return a new JWKS client for ``url`` with our cache and timeout settings."""
    import jwt

    return jwt.PyJWKClient(
        url,
        lifespan=JWKS_LIFESPAN,
        timeout=JWKS_TIMEOUT,
        cooldown_duration=cooldown,
    )


def jwks_client(url: str) -> jwt.PyJWKClient:
    """Return the process-wide JWKS client for ``url``, creating it once."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = make_jwks_client(url)
        return client


def verify_id_token(token: str, *, issuer: str, client_id: str, keys: jwt.PyJWKClient) -> Identity:
    """Return the identity in ``token`` once every check passed; else raise TokenError."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
    try:
        key = keys.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[ALGORITHM],
            audience=client_id,
            issuer=issuer,
            leeway=CLOCK_SKEW,
            options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
        )
    except jwt.PyJWKClientConnectionError as exc:
        raise TokenError(f"could not fetch the signing keys: {exc}") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    # An access token of the same pool passes the signature check and carries
    # the same ``sub``; only ``token_use`` tells it apart.
    if claims["token_use"] != "id":
        raise TokenError(f"token_use is {claims['token_use']!r}, not 'id'")
    sub, email, exp = claims["sub"], claims.get("email", ""), claims["exp"]
    # The sub names the user's S3 folder, so it must be one plain path segment.
    if not isinstance(sub, str) or not sub or "/" in sub or not sub.isprintable():
        raise TokenError("sub is not a plain identifier")
    if not isinstance(email, str):
        raise TokenError("email is not a string")
    return Identity(sub=sub, email=email, expires_at=int(exp))

"""ID-token verification: our own RSA keys behind a JWKS we serve, and moto's real tokens."""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.identity.tokens import (
    Identity,
    TokenError,
    jwks_client,
    jwks_url,
    make_jwks_client,
    verify_id_token,
)
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings

ISSUER = "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_test"
CLIENT_ID = "test-client-id"
SUB = "5c1a8f0e-3b7d-4e59-9a61-2f0c8d4b7e13"
KID = "test-key"

# RSA key generation costs ≈50 ms each: make the few keys once.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """A JWKS endpoint we control: the keys it serves and how often it was asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *pairs: tuple[rsa.RSAPrivateKey, str]) -> None:
        """Serve the public halves of ``(key, kid)`` pairs."""
        self.keys = [public_jwk(key, kid) for key, kid in pairs]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """Return the JWK of ``key``'s public half, as Cognito publishes it."""
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    """Serve a JWKS on a free local port for this module's tests."""
    server = JwksServer()
    yield server
    server.stop()


@pytest.fixture
def jwks(jwks_server: JwksServer) -> JwksServer:
    """Return the JWKS server publishing ``KEY`` only, its fetch count at zero."""
    jwks_server.publish((KEY, KID))
    jwks_server.fetches = 0
    return jwks_server


@pytest.fixture
def keys(jwks: JwksServer) -> jwt.PyJWKClient:
    """Return a fresh JWKS client (empty cache) for the local JWKS."""
    return make_jwks_client(jwks.url, cooldown=0)


def claims(**overrides: Any) -> dict[str, Any]:
    """Return the claims of a valid ID token, with ``overrides`` (None removes a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": SUB,
        "email": "alice@example.com",
        "email_verified": True,
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey = KEY, kid: str = KID) -> str:
    """Return an RS256 token of ``payload`` signed with ``key``."""
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def forge(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """Return a token built by hand: HMAC-SHA256 with ``secret``, or no signature."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if secret is None else hmac.digest(secret, signing_input.encode(), "sha256")
    return f"{signing_input}.{b64(signature)}"


def verify(token: str, keys: jwt.PyJWKClient) -> Identity:
    return verify_id_token(token, issuer=ISSUER, client_id=CLIENT_ID, keys=keys)


def test_a_valid_token_gives_its_identity(keys: jwt.PyJWKClient) -> None:
    payload = claims()
    identity = verify(sign(payload), keys)
    assert identity == Identity(sub=SUB, email="alice@example.com", expires_at=payload["exp"])


def test_expired_token_is_refused(keys: jwt.PyJWKClient) -> None:
    now = int(time.time())
    token = sign(claims(iat=now - 7200, auth_time=now - 7200, exp=now - 60))
    with pytest.raises(TokenError, match="expired"):
        verify(token, keys)


def test_token_signed_by_another_key_is_refused(keys: jwt.PyJWKClient) -> None:
    # Same kid as our published key: only the signature gives it away.
    with pytest.raises(TokenError, match="Signature verification failed"):
        verify(sign(claims(), key=OTHER_KEY), keys)


def test_token_with_an_unknown_kid_is_refused_after_one_refetch(
    jwks: JwksServer, keys: jwt.PyJWKClient
) -> None:
    with pytest.raises(TokenError, match="Unable to find a signing key"):
        verify(sign(claims(), key=OTHER_KEY, kid="attacker"), keys)
    assert jwks.fetches == 2  # the cached set, then one forced refresh


def test_alg_none_is_refused_before_any_key_lookup(jwks: JwksServer, keys: jwt.PyJWKClient) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": KID}, claims(), secret=None)
    with pytest.raises(TokenError, match="'none' is not RS256"):
        verify(token, keys)
    assert jwks.fetches == 0


def test_hs256_signed_with_the_public_key_is_refused(keys: jwt.PyJWKClient) -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(public_jwk(KEY, KID)).encode()):
        token = forge({"alg": "HS256", "typ": "JWT", "kid": KID}, claims(), secret=secret)
        with pytest.raises(TokenError, match="'HS256' is not RS256"):
            verify(token, keys)


def test_rs256_header_over_an_hmac_signature_is_refused(keys: jwt.PyJWKClient) -> None:
    # The header claims RS256 but the bytes are an HMAC: the RSA check fails.
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "RS256", "typ": "JWT", "kid": KID}, claims(), secret=public_pem)
    with pytest.raises(TokenError, match="Signature verification failed"):
        verify(token, keys)


def test_token_of_another_pool_is_refused(keys: jwt.PyJWKClient) -> None:
    other_pool = "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_other"
    with pytest.raises(TokenError, match="issuer"):
        verify(sign(claims(iss=other_pool)), keys)


def test_token_for_another_client_is_refused(keys: jwt.PyJWKClient) -> None:
    with pytest.raises(TokenError, match="Audience doesn't match"):
        verify(sign(claims(aud="another-client")), keys)


def test_token_for_several_audiences_is_refused(keys: jwt.PyJWKClient) -> None:
    # Cognito's ID token names exactly one client; a list is not ours to accept.
    with pytest.raises(TokenError, match="Invalid claim format"):
        verify(sign(claims(aud=[CLIENT_ID, "another-client"])), keys)


def test_access_token_is_refused(keys: jwt.PyJWKClient) -> None:
    with pytest.raises(TokenError, match="token_use is 'access'"):
        verify(sign(claims(token_use="access")), keys)


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "token_use"])
def test_token_missing_a_required_claim_is_refused(claim: str, keys: jwt.PyJWKClient) -> None:
    with pytest.raises(TokenError, match=claim):
        verify(sign(claims(**{claim: None})), keys)


@pytest.mark.parametrize("sub", ["", "a/b", "a\nb", 42])
def test_sub_must_be_a_plain_identifier(sub: object, keys: jwt.PyJWKClient) -> None:
    with pytest.raises(TokenError):
        verify(sign(claims(sub=sub)), keys)


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "e30.e30."])
def test_garbage_is_refused(token: str, keys: jwt.PyJWKClient) -> None:
    with pytest.raises(TokenError):
        verify(token, keys)


def test_unreachable_jwks_is_a_token_error() -> None:
    keys = make_jwks_client("http://127.0.0.1:9/.well-known/jwks.json")
    with pytest.raises(TokenError, match="could not fetch the signing keys"):
        verify(sign(claims()), keys)


def test_key_set_is_fetched_once_and_reused(jwks: JwksServer) -> None:
    keys = jwks_client(jwks.url)
    assert jwks_client(jwks.url) is keys  # one client per URL for the whole process
    before = jwks.fetches
    for _ in range(3):
        verify(sign(claims()), keys)
    assert jwks.fetches - before <= 1


def test_rotated_key_is_fetched_on_its_unknown_kid(jwks: JwksServer, keys: jwt.PyJWKClient) -> None:
    verify(sign(claims()), keys)
    assert jwks.fetches == 1
    jwks.publish((KEY, KID), (OTHER_KEY, "rotated"))
    identity = verify(sign(claims(), key=OTHER_KEY, kid="rotated"), keys)
    assert identity.sub == SUB
    assert jwks.fetches == 2


def test_jwks_url_is_the_pools_own_outside_local_mode() -> None:
    settings = Settings(
        export_bucket="b",
        slips_table="s",
        balances_table="b",
        cognito_user_pool_id="ap-northeast-1_abc",
        cognito_client_id="c",
        region="ap-northeast-1",
        app_table="app",
        jobs_queue_url="http://127.0.0.1:9/queue/jobs",
        secret_key="k",
        archive_key_parameter="/kakeibo/dev/archive-key",
    )
    assert jwks_url(settings) == (
        "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_abc/.well-known/jwks.json"
    )


def test_moto_id_token_verifies_against_motos_jwks(settings: Settings, clients: Clients) -> None:
    sub = create_user(
        clients.cognito, settings.cognito_user_pool_id, "alice@example.com", DEMO_PASSWORD
    )
    result = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice@example.com", "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]
    keys = jwks_client(jwks_url(settings))
    identity = verify_id_token(
        result["IdToken"],
        issuer=settings.issuer,
        client_id=settings.cognito_client_id,
        keys=keys,
    )
    assert identity.sub == sub
    assert identity.email == "alice@example.com"
    assert 3500 < identity.expires_at - time.time() <= 3600
    # moto's access token is signed by the same key and names the same user.
    with pytest.raises(TokenError):
        verify_id_token(
            result["AccessToken"],
            issuer=settings.issuer,
            client_id=settings.cognito_client_id,
            keys=keys,
        )


def test_public_key_hmac_helper_really_signs() -> None:
    # Guard for forge(): an HS256 token it makes is valid for PyJWT's HMAC check,
    # so the refusals above come from our algorithm pinning, not a broken forgery.
    secret = b"s" * 32
    token = forge({"alg": "HS256", "typ": "JWT"}, claims(), secret=secret)
    decoded = jwt.decode(token, secret, algorithms=["HS256"], audience=CLIENT_ID)
    assert decoded["sub"] == SUB

"""Authenticated archives: an HMAC-SHA256 of ``manifest.json``, under a key with an id.

The manifest lists every data file with its size and SHA-256, so a MAC over the
manifest's exact bytes authenticates the whole archive: change an item and its
file's digest no longer matches; change the digest (or the user) and the MAC no
longer does. The MAC lives beside the manifest in ``manifest.sig``:
``{"alg": "HMAC-SHA256", "kid": "...", "mac": "<hex>"}``.

Keys rotate by id. In AWS the key is an SSM SecureString and its id is the
parameter's version, so ``put-parameter --overwrite`` starts signing with a new
key while archives signed with older versions still verify (SSM keeps versions).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import N_
from .errors import RestoreError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

SIGNATURE_NAME = "manifest.sig"
ALGORITHM = "HMAC-SHA256"
#: Shortest key accepted (``secrets.token_hex(32)`` gives 64 characters).
MIN_KEY_LENGTH = 32
_MAX_SIGNATURE_BYTES = 4096


@dataclass(frozen=True)
class SigningKey:
    """One archive key: its id (written into signatures) and its secret."""

    kid: str
    secret: bytes

    def __post_init__(self) -> None:
        if not self.kid or len(self.secret) < MIN_KEY_LENGTH:
            raise ValueError(f"an archive key needs an id and at least {MIN_KEY_LENGTH} bytes")


class Keyring(Protocol):
    """Where archive keys come from: the one to sign with, and any by id to verify."""

    def current(self) -> SigningKey:
        """Return the key new archives are signed with."""

    def find(self, kid: str) -> SigningKey | None:
        """Return the key with id ``kid``, or None if there is none."""


class StaticKeyring:
    """Keys given directly (local mode and tests); the first signs."""

    def __init__(self, *keys: SigningKey) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = {key.kid: key for key in keys}
        self._current = keys[0]

    def current(self) -> SigningKey:
        return self._current

    def find(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)


class SsmKeyring:
    """The key in an SSM SecureString; its versions are the key ids (``v3``)."""

    def __init__(self, ssm: SSMClient, name: str) -> None:
        self.ssm = ssm
        self.name = name
        self._lock = threading.Lock()
        self._current: SigningKey | None = None
        self._found: dict[str, SigningKey | None] = {}

    def current(self) -> SigningKey:
        with self._lock:
            if self._current is None:
                self._current = self._read(self.name)
            return self._current

    def find(self, kid: str) -> SigningKey | None:
        version = kid[1:]
        # isdigit() alone would pass "v²", which is no SSM version.
        if not kid.startswith("v") or not (version.isascii() and version.isdigit()):
            return None
        with self._lock:
            if kid not in self._found:
                try:
                    self._found[kid] = self._read(f"{self.name}:{version}")
                except KeyMissing:
                    self._found[kid] = None
            return self._found[kid]

    def _read(self, name: str) -> SigningKey:
        try:
            parameter = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {
                "ParameterNotFound",
                "ParameterVersionNotFound",
            }:
                raise KeyMissing(name) from exc
            raise
        except BotoCoreError:
            raise
        return SigningKey(kid=f"v{parameter['Version']}", secret=parameter["Value"].encode())


class KeyMissing(Exception):
    """The key (or that version of it) does not exist."""


def sign(manifest: bytes, key: SigningKey) -> bytes:
    """Return ``manifest.sig`` for the manifest's exact bytes."""
    mac = hmac.new(key.secret, manifest, hashlib.sha256).hexdigest()
    return (json.dumps({"alg": ALGORITHM, "kid": key.kid, "mac": mac}) + "\n").encode()


class SignatureError(RestoreError):
    """The archive's signature is missing or does not match: it is not ours as it stands."""

    summary = N_(
        "This archive was not made by this Kakeibo Export, or its list of files was changed "
        "after it was exported, so it cannot be restored here."
    )


UNSIGNED = N_(
    "the archive is not signed (it was made before archives were signed, or by another "
    "program), so it cannot be trusted as it stands"
)
WRONG = N_(
    "the archive's signature does not match: it was changed after it was made, or made by "
    "another installation"
)


def verify(manifest: bytes, signature: bytes | None, keyring: Keyring) -> SigningKey:
    """Return the key that signed ``manifest``; raise SignatureError if none did."""
    if signature is None:
        raise SignatureError(UNSIGNED)
    if len(signature) > _MAX_SIGNATURE_BYTES:
        raise SignatureError(WRONG)
    try:
        data = json.loads(signature.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SignatureError(WRONG) from None
    if (
        not isinstance(data, dict)
        or data.get("alg") != ALGORITHM
        or not isinstance(data.get("kid"), str)
        or not isinstance(data.get("mac"), str)
    ):
        raise SignatureError(WRONG)
    key = keyring.find(data["kid"])
    if key is None:
        raise SignatureError(WRONG)
    expected = hmac.new(key.secret, manifest, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, data["mac"].lower()):
        raise SignatureError(WRONG)
    return key

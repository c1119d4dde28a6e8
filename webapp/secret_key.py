"""The app's secrets: the session signing key and the archive keys, from SSM or settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .aws import Clients, error_reason
from .settings import ConfigError, Settings

if TYPE_CHECKING:
    from .archive.signing import Keyring

#: Shortest session signing key accepted from SSM (``secrets.token_hex(32)`` gives 64).
MIN_SECRET_KEY_LENGTH = 32


def read_secret_key(settings: Settings, clients: Clients) -> str:
    """Return the session signing key from the SSM SecureString; fail naming why."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = settings.secret_key_parameter
    if not name:
        raise ConfigError("SECRET_KEY or SECRET_KEY_PARAMETER is required outside local mode")
    try:
        parameter = clients.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(
            f"cannot read SECRET_KEY_PARAMETER {name!r} from SSM: {error_reason(exc)}"
        ) from exc
    if parameter.get("Type") != "SecureString":
        raise ConfigError(f"SSM parameter {name!r} must be a SecureString")
    value = parameter.get("Value", "")
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SSM parameter {name!r} must hold at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    return value


def archive_keyring(settings: Settings, clients: Clients) -> Keyring:
    """Return the archive keys: ``ARCHIVE_KEY`` itself, else the SSM parameter's versions."""
    from .archive.signing import SigningKey, SsmKeyring, StaticKeyring

    if settings.archive_key:
        return StaticKeyring(SigningKey(kid="static", secret=settings.archive_key.encode()))
    if not settings.archive_key_parameter:
        raise ConfigError("ARCHIVE_KEY or ARCHIVE_KEY_PARAMETER is required to sign archives")
    return SsmKeyring(clients.ssm, settings.archive_key_parameter)

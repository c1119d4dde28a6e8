"""The session signing key, read from an SSM SecureString once per container."""

from __future__ import annotations

from .aws import Clients, error_reason
from .settings import ConfigError, Settings

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

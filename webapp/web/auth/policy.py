"""The pool's password policy, read once an hour (DescribeUserPool), for the password pages."""

from __future__ import annotations

import time

from flask import current_app

from ...identity.selfservice import PasswordPolicy, read_password_policy
from ..context import get_clients, get_settings

_CACHE = "kakeibo.password_policy"
#: A policy changes seldom: read it at most once an hour per warm Lambda.
POLICY_TTL = 3600
#: After a failed read, try again this much later (the pages then say less).
RETRY_AFTER = 300


def password_policy() -> PasswordPolicy | None:
    """Return the pool's password policy (cached), or None when Cognito did not say."""
    now = time.monotonic()
    cached: tuple[float, PasswordPolicy | None] | None = current_app.extensions.get(_CACHE)
    if cached is not None and cached[0] > now:
        return cached[1]
    policy = read_password_policy(get_clients().cognito, get_settings().cognito_user_pool_id)
    current_app.extensions[_CACHE] = (now + (POLICY_TTL if policy else RETRY_AFTER), policy)
    return policy

"""Test helpers shared by several test modules (not fixtures: those live in conftest)."""

from __future__ import annotations

from webapp.settings import Settings

#: Settings whose AWS is never reached: every Cognito call made with them is
#: stubbed, and the endpoint is a closed local port so nothing leaks out.
OFFLINE = Settings(
    export_bucket="bucket",
    slips_table="slips",
    balances_table="balances",
    cognito_user_pool_id="ap-northeast-1_offline",
    cognito_client_id="offline-client",
    region="ap-northeast-1",
    endpoint_url="http://127.0.0.1:9",
    jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
    secret_key="offline-secret-key",
    local=True,
)

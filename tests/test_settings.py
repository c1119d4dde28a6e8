"""Settings: read from the environment in one place, failing on what is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webapp.settings import REQUIRED, ConfigError, Settings

ENV = {
    "EXPORT_BUCKET": "bucket",
    "SLIPS_TABLE": "slips",
    "BALANCES_TABLE": "balances",
    "COGNITO_USER_POOL_ID": "ap-northeast-1_abc",
    "COGNITO_CLIENT_ID": "client",
    "APP_TABLE": "app",
    "JOBS_QUEUE_URL": "https://sqs.ap-northeast-1.amazonaws.com/123456789012/jobs",
    "AWS_REGION": "ap-northeast-1",
    "SECRET_KEY_PARAMETER": "/kakeibo/dev/secret-key",
    "ARCHIVE_KEY_PARAMETER": "/kakeibo/dev/archive-key",
}


def test_reads_a_complete_environment() -> None:
    settings = Settings.from_env(ENV)
    assert settings.export_bucket == "bucket"
    assert settings.slips_table == "slips"
    assert settings.balances_table == "balances"
    assert settings.region == "ap-northeast-1"
    assert settings.endpoint_url is None
    assert settings.retention_days == 7
    assert settings.download_url_expiry == 60
    assert settings.display_timezone == "Asia/Tokyo"
    assert settings.max_span_days == 1827
    assert not settings.local
    assert settings.issuer == "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_abc"


@pytest.mark.parametrize("name", REQUIRED)
def test_each_missing_setting_is_named(name: str) -> None:
    env = {k: v for k, v in ENV.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_empty_value_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="SLIPS_TABLE"):
        Settings.from_env({**ENV, "SLIPS_TABLE": ""})


def test_all_missing_settings_named_at_once() -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({})
    for name in (*REQUIRED, "AWS_REGION"):
        assert name in str(exc.value)


def test_region_falls_back_to_aws_default_region() -> None:
    env = {k: v for k, v in ENV.items() if k != "AWS_REGION"}
    assert Settings.from_env({**env, "AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    with pytest.raises(ConfigError, match="AWS_REGION"):
        Settings.from_env(env)


def test_aws_region_wins_over_default_region() -> None:
    settings = Settings.from_env({**ENV, "AWS_DEFAULT_REGION": "us-west-2"})
    assert settings.region == "ap-northeast-1"


def test_secret_key_is_required_outside_local_mode() -> None:
    env = {k: v for k, v in ENV.items() if k != "SECRET_KEY_PARAMETER"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "SECRET_KEY": "s3cret"}).secret_key == "s3cret"


def test_endpoint_and_options_are_read() -> None:
    settings = Settings.from_env(
        {
            **ENV,
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5001",
            "EXPORT_RETENTION_DAYS": "30",
            "DOWNLOAD_URL_EXPIRY": "300",
            "DISPLAY_TIMEZONE": "Europe/Berlin",
            "EXPORT_MAX_DAYS": "366",
        }
    )
    assert settings.endpoint_url == "http://127.0.0.1:5001"
    assert settings.retention_days == 30
    assert settings.download_url_expiry == 300
    assert settings.display_timezone == "Europe/Berlin"
    assert settings.max_span_days == 366


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPORT_RETENTION_DAYS", "seven"),
        ("EXPORT_RETENTION_DAYS", "0"),
        ("DOWNLOAD_URL_EXPIRY", "301"),
        ("DOWNLOAD_URL_EXPIRY", "0"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus_Mons"),
        ("EXPORT_MAX_DAYS", "0"),
    ],
)
def test_invalid_values_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**ENV, name: value})


def test_jwks_override_refused_outside_local_mode() -> None:
    base: dict[str, Any] = {
        "export_bucket": "b",
        "slips_table": "s",
        "balances_table": "t",
        "cognito_user_pool_id": "p",
        "cognito_client_id": "c",
        "region": "ap-northeast-1",
        "app_table": "a",
        "jobs_queue_url": "q",
        "secret_key": "k",
    }
    with pytest.raises(ConfigError, match="JWKS"):
        Settings(**base, jwks_url="http://127.0.0.1/jwks.json")
    local = Settings(**base, jwks_url="http://127.0.0.1/jwks.json", local=True)
    assert local.jwks_url == "http://127.0.0.1/jwks.json"


def test_from_env_never_enables_local_mode_or_jwks_override() -> None:
    settings = Settings.from_env({**ENV, "COGNITO_JWKS_URL": "http://evil.example/jwks.json"})
    assert settings.jwks_url is None
    assert not settings.local


def _flask(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app webapp ARGS`` with no settings at all in the environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_the_command_line_helps_before_it_is_configured() -> None:
    listing = _flask("--help")
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stdout + listing.stderr
    for command in ("create-user", "restore", "run-schedule"):
        assert f"  {command} " in listing.stdout
    for command in ("create-user", "restore", "run-schedule", "routes", "run", "shell"):
        answer = _flask(command, "--help")
        assert answer.returncode == 0, (command, answer.stderr)
        assert answer.stdout.startswith(f"Usage: python -m flask {command}")
        assert answer.stderr == ""


@pytest.mark.parametrize(
    "command", [["create-user", "a@example.com"], ["run-schedule"], ["routes"], ["run"]]
)
def test_a_command_without_its_settings_names_them_in_one_line(command: list[str]) -> None:
    answer = _flask(*command)
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert lines[0].startswith("Error: missing required setting(s): EXPORT_BUCKET, ")
    assert "SECRET_KEY (or SECRET_KEY_PARAMETER)" in lines[0]
    assert "ARCHIVE_KEY (or ARCHIVE_KEY_PARAMETER)" in lines[0]


def test_the_first_user_steps_export_every_setting_the_commands_need() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    steps = readme.split("### 3. Create the first user", 1)[1].split("```sh", 1)[1]
    script = steps.split("```", 1)[0]
    exported = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", script))
    needed = {*REQUIRED, "AWS_REGION"}
    assert needed <= exported, needed - exported
    assert {"SECRET_KEY", "SECRET_KEY_PARAMETER"} & exported
    assert {"ARCHIVE_KEY", "ARCHIVE_KEY_PARAMETER"} & exported

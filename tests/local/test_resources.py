"""Local mode creates what serverless.yml declares, so the two cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from webapp.aws import Clients
from webapp.local.stack import RETENTION_DAYS
from webapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation's short tags (!Ref, !Sub …)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_serverless() -> dict[str, Any]:
    """Return serverless.yml with its simple ``${self:custom.*}``/``${param:*}`` resolved."""
    config: dict[str, Any] = yaml.load(
        (ROOT / "serverless.yml").read_text(), Loader=_CloudFormationLoader
    )
    defaults = config.get("params", {}).get("default", {})
    custom = config.get("custom", {})

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str):
            match = re.fullmatch(r"\$\{(self:custom\.|param:)(\w+)(?:,\s*[^}]*)?\}", value)
            if match:
                source = custom if match.group(1) == "self:custom." else defaults
                return resolve(source[match.group(2)])
        return value

    return resolve(config)  # type: ignore[no-any-return]


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    resources = load_serverless()["resources"]["Resources"]
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((d["AttributeName"], d.get("KeyType") or d["AttributeType"]) for d in schema)


def test_tables_match_serverless_yml(settings: Settings, clients: Clients) -> None:
    declared = {
        r["Properties"]["TableName"].rsplit("-", 1)[1]: r["Properties"]
        for r in resources_of("AWS::DynamoDB::Table").values()
    }
    assert sorted(declared) == ["app", "balances", "slips"]
    local_names = {
        "slips": settings.slips_table,
        "balances": settings.balances_table,
        "app": settings.app_table,
    }
    for suffix, table in local_names.items():
        local = clients.dynamodb.describe_table(TableName=table)["Table"]
        props = declared[suffix]
        assert _keys(local["KeySchema"]) == _keys(props["KeySchema"])  # type: ignore[arg-type]
        assert _keys(local["AttributeDefinitions"]) == _keys(props["AttributeDefinitions"])  # type: ignore[arg-type]
        assert local["BillingModeSummary"]["BillingMode"] == props["BillingMode"]
        declared_indexes = {
            i["IndexName"]: _keys(i["KeySchema"]) for i in props.get("GlobalSecondaryIndexes", [])
        }
        local_indexes = {
            i["IndexName"]: _keys(i["KeySchema"])  # type: ignore[arg-type]
            for i in local.get("GlobalSecondaryIndexes", [])
        }
        assert local_indexes == declared_indexes
        # The data tables' streams feed the change log; the app table has none.
        declared_stream = props.get("StreamSpecification", {}).get("StreamViewType")
        local_stream = local.get("StreamSpecification", {}).get("StreamViewType")
        assert local_stream == declared_stream
        assert (declared_stream is not None) == (suffix != "app")
    ttl = clients.dynamodb.describe_time_to_live(TableName=settings.app_table)
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert (
        ttl["TimeToLiveDescription"]["AttributeName"]
        == declared["app"]["TimeToLiveSpecification"]["AttributeName"]
    )
    assert declared["app"]["TimeToLiveSpecification"]["Enabled"] is True


def test_jobs_queue_matches_serverless_yml(settings: Settings, clients: Clients) -> None:
    config = load_serverless()
    declared = resources_of("AWS::SQS::Queue")
    queue = declared["JobsQueue"]["Properties"]
    dead_letter = declared["JobsDeadLetterQueue"]["Properties"]
    local = clients.sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert int(local["VisibilityTimeout"]) == int(queue["VisibilityTimeout"])
    redrive = json.loads(local["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert redrive["deadLetterTargetArn"].endswith(":kakeibo-local-jobs-dead-letter")
    dead = clients.sqs.get_queue_url(QueueName="kakeibo-local-jobs-dead-letter")["QueueUrl"]
    dead_attributes = clients.sqs.get_queue_attributes(
        QueueUrl=dead, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]
    assert int(dead_attributes["MessageRetentionPeriod"]) == dead_letter["MessageRetentionPeriod"]
    # The local worker's notion of the timeout is the deployed function's.
    worker = config["functions"]["worker"]
    assert int(worker["timeout"]) == settings.worker_timeout == 900
    assert int(queue["VisibilityTimeout"]) >= 6 * int(worker["timeout"])


def test_bucket_lifecycle_matches_serverless_yml(settings: Settings, clients: Clients) -> None:
    bucket = resources_of("AWS::S3::Bucket")["ExportBucket"]  # not the access-log bucket
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    declared = {rule["Id"]: rule for rule in rules}
    configured = clients.s3.get_bucket_lifecycle_configuration(Bucket=settings.export_bucket)
    local = {rule["ID"]: rule for rule in configured["Rules"]}
    assert (
        set(declared)
        == set(local)
        == {
            "expire-exports",
            "expire-backups",
            "expire-uploads",
            "expire-changes",
        }
    )
    days = {
        "expire-exports": RETENTION_DAYS,
        "expire-backups": 400,
        "expire-uploads": 1,
        "expire-changes": 30,
    }
    prefixes = {
        "expire-exports": "exports/",
        "expire-backups": "backups/",
        "expire-uploads": "uploads/",
        "expire-changes": "changes/",
    }
    for rule_id, rule in declared.items():
        assert rule["Status"] == local[rule_id]["Status"] == "Enabled"
        prefix = rule.get("Prefix") or rule["Filter"]["Prefix"]
        assert prefix == local[rule_id]["Filter"]["Prefix"] == prefixes[rule_id]
        declared_days = str(rule["ExpirationInDays"])
        if declared_days.startswith("${param:"):
            declared_days = str(load_serverless()["params"]["default"][declared_days[8:-1]])
        assert int(declared_days) == local[rule_id]["Expiration"]["Days"]
        assert local[rule_id]["Expiration"]["Days"] == days[rule_id]
    assert settings.retention_days == RETENTION_DAYS
    assert (
        declared["expire-exports"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        == local["expire-exports"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
    )


def test_user_pool_matches_serverless_yml(settings: Settings, clients: Clients) -> None:
    (pool_resource,) = resources_of("AWS::Cognito::UserPool").values()
    (client_resource,) = resources_of("AWS::Cognito::UserPoolClient").values()
    pool = clients.cognito.describe_user_pool(UserPoolId=settings.cognito_user_pool_id)["UserPool"]
    app_client = clients.cognito.describe_user_pool_client(
        UserPoolId=settings.cognito_user_pool_id, ClientId=settings.cognito_client_id
    )["UserPoolClient"]
    props = pool_resource["Properties"]
    assert pool["UsernameAttributes"] == props["UsernameAttributes"]
    assert pool["MfaConfiguration"] == props["MfaConfiguration"]
    assert (
        pool["Policies"]["PasswordPolicy"]["MinimumLength"]
        == (props["Policies"]["PasswordPolicy"]["MinimumLength"])
    )
    client_props = client_resource["Properties"]
    assert sorted(app_client["ExplicitAuthFlows"]) == sorted(client_props["ExplicitAuthFlows"])
    assert "ClientSecret" not in app_client
    assert client_props["GenerateSecret"] is False
    assert sorted(app_client["ReadAttributes"]) == sorted(client_props["ReadAttributes"])

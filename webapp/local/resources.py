"""Create the AWS resources ``serverless.yml`` declares, on a local endpoint.

Local mode and the tests build the same bucket, tables, user pool and app client
that a deploy creates; ``tests/local/test_resources.py`` compares the two so they
cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..apptable import DUE_INDEX, DUE_SHARD_ATTRIBUTE, NEXT_RUN_ATTRIBUTE, TTL_ATTRIBUTE
from ..archive.ids import BACKUP_PREFIX, CHANGES_PREFIX, EXPORT_PREFIX, UPLOAD_PREFIX
from ..model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class UserPool:
    """The ids of a freshly created pool and its app client."""

    pool_id: str
    client_id: str


#: Days an automatic backup is kept at most (the newest 12 are kept anyway until then).
BACKUP_RETENTION_DAYS = 400
#: Days the change log is kept (serverless.yml's changesRetentionDays).
CHANGES_RETENTION_DAYS = 30


def lifecycle_rules(retention_days: int) -> list[dict[str, Any]]:
    """Return the bucket's lifecycle rules: expire archives and backups, drop stale uploads."""
    return [
        {
            "ID": "expire-exports",
            "Status": "Enabled",
            "Filter": {"Prefix": EXPORT_PREFIX},
            "Expiration": {"Days": retention_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "expire-backups",
            "Status": "Enabled",
            "Filter": {"Prefix": BACKUP_PREFIX},
            "Expiration": {"Days": BACKUP_RETENTION_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "expire-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": UPLOAD_PREFIX},
            "Expiration": {"Days": 1},
        },
        {
            "ID": "expire-changes",
            "Status": "Enabled",
            "Filter": {"Prefix": CHANGES_PREFIX},
            "Expiration": {"Days": CHANGES_RETENTION_DAYS},
        },
    ]


def create_bucket(s3: S3Client, bucket: str, region: str, retention_days: int) -> None:
    """Create the export bucket with its lifecycle rule."""
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
        )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": lifecycle_rules(retention_days)},  # type: ignore[typeddict-item]
    )


#: What the data tables' streams carry: every change with the item before and after it.
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def create_table(dynamodb: DynamoDBClient, name: str) -> None:
    """Create one kakeibo table (on-demand, the data model's keys, a stream of its changes)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,  # type: ignore[arg-type]
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,  # type: ignore[arg-type]
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=STREAM,  # type: ignore[arg-type]
    )


#: The app table's sparse index of the automatic backups that are on (see jobs.backups).
DUE_INDEX_KEYS = [
    {"AttributeName": DUE_SHARD_ATTRIBUTE, "KeyType": "HASH"},
    {"AttributeName": NEXT_RUN_ATTRIBUTE, "KeyType": "RANGE"},
]


def create_app_table(dynamodb: DynamoDBClient, name: str) -> None:
    """Create the app's own table (jobs, preferences): the data tables' keys, an index, a TTL."""
    attributes: Any = [
        *ATTRIBUTE_DEFINITIONS,
        {"AttributeName": DUE_SHARD_ATTRIBUTE, "AttributeType": "S"},
        {"AttributeName": NEXT_RUN_ATTRIBUTE, "AttributeType": "S"},
    ]
    index: Any = {
        "IndexName": DUE_INDEX,
        "KeySchema": DUE_INDEX_KEYS,
        "Projection": {"ProjectionType": "ALL"},
    }
    dynamodb.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,  # type: ignore[arg-type]
        AttributeDefinitions=attributes,
        GlobalSecondaryIndexes=[index],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


#: The worker may run 15 minutes; SQS hides a message it handed out six times as long.
WORKER_TIMEOUT = 900
QUEUE_VISIBILITY_TIMEOUT = 6 * WORKER_TIMEOUT
#: After this many receives without success a message goes to the dead-letter queue.
MAX_RECEIVES = 3


@dataclass(frozen=True)
class JobsQueue:
    """The URLs of the jobs queue and its dead-letter queue."""

    url: str
    dead_letter_url: str


def create_jobs_queue(sqs: SQSClient, name: str) -> JobsQueue:
    """Create the jobs queue with its dead-letter queue, as serverless.yml declares them."""
    dead_letter_url = sqs.create_queue(
        QueueName=f"{name}-dead-letter", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(QUEUE_VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVES}
            ),
        },
    )["QueueUrl"]
    return JobsQueue(url=url, dead_letter_url=dead_letter_url)


def create_user_pool(cognito: CognitoIdentityProviderClient, name: str) -> UserPool:
    """Create a user pool signing in by email, and an app client without a secret."""
    pool = cognito.create_user_pool(
        PoolName=name,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OPTIONAL",
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": False,
            }
        },
    )["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=f"{name}-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",
        ReadAttributes=["email", "email_verified"],
    )["UserPoolClient"]
    return UserPool(pool_id=pool["Id"], client_id=client["ClientId"])

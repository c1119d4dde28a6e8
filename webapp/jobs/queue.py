"""The jobs queue: one SQS message per job, naming only whose job and which.

The message carries no parameters: the worker reads them from the job record,
which the web function wrote from the verified session, so nothing in a message
can choose another user's partition or folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import N_
from .job import JobError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

VERSION = 1


@dataclass(frozen=True)
class JobMessage:
    """What one queue message asks: run this user's job."""

    user_id: str
    job_id: str

    def to_json(self) -> str:
        """Return the message body."""
        return json.dumps({"v": VERSION, "user_id": self.user_id, "job_id": self.job_id})

    @classmethod
    def parse(cls, body: str) -> JobMessage | None:
        """Return the message in ``body``, or None if it is not one of ours."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return None
        user_id, job_id = data.get("user_id"), data.get("job_id")
        if not isinstance(user_id, str) or not isinstance(job_id, str) or not user_id or not job_id:
            return None
        return cls(user_id=user_id, job_id=job_id)


class JobQueue:
    """Send job messages to the queue the worker function reads."""

    def __init__(self, sqs: SQSClient, url: str) -> None:
        self.sqs = sqs
        self.url = url

    def send(self, message: JobMessage) -> None:
        """Queue one job; raise JobError if SQS refused."""
        try:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=message.to_json())
        except (ClientError, BotoCoreError) as exc:
            raise JobError(N_("The export could not be started just now. Try again.")) from exc

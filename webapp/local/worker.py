"""Local mode's stand-in for Lambda's SQS trigger: poll the moto queue, call the worker.

Lambda's event source mapping receives a message, hands it to the worker function
as an SQS event, and deletes it unless the function reported it as failed. This
does the same against the embedded moto server, calling the same ``Worker.handle``
the Lambda handler delegates to, in a thread of the local process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from ..jobs.worker import Worker
from ..services import Services

logger = logging.getLogger(__name__)

#: Long-poll seconds: short, so Ctrl-C stops the thread promptly.
POLL_SECONDS = 1


def sqs_event(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """Return the event Lambda would send for one received SQS message."""
    body = message["Body"]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        ]
    }


class LocalWorker:
    """Deliver the jobs queue's messages to the worker, one at a time (batch size 1)."""

    def __init__(self, services: Services) -> None:
        self.settings = services.settings
        self.clients = services.clients
        self.worker = Worker(services)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._arn: str | None = None

    @property
    def queue_arn(self) -> str:
        """Return the queue's ARN, as the event names it."""
        if self._arn is None:
            self._arn = self.clients.sqs.get_queue_attributes(
                QueueUrl=self.settings.jobs_queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
        return self._arn

    def poll_once(self, wait: int = POLL_SECONDS) -> int:
        """Receive at most one message and handle it; return how many were received."""
        received = self.clients.sqs.receive_message(
            QueueUrl=self.settings.jobs_queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
        ).get("Messages", [])
        for message in received:
            event = sqs_event(dict(message), self.queue_arn, self.settings.region)
            answer = self.worker.handle(event)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            if message["MessageId"] not in failed:
                self.clients.sqs.delete_message(
                    QueueUrl=self.settings.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(received)

    def drain(self, limit: int = 100) -> int:
        """Handle every message waiting now (tests); return how many there were."""
        handled = 0
        while handled < limit and self.poll_once(wait=0):
            handled += 1
        return handled

    def start(self) -> None:
        """Poll in a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="local-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2 * POLL_SECONDS + 1) -> None:
        """Stop polling; a job being run is left to finish within ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return  # moto is shutting down
                logger.exception("the local worker could not poll the queue")
                self._stop.wait(POLL_SECONDS)

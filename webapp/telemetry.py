"""Structured logs and metrics: one JSON line per event, metrics in CloudWatch's own format.

Lambda sends every line a function writes to CloudWatch Logs as one event; a line
that is a JSON object carrying an ``_aws`` member in the embedded metric format
(EMF) is also turned into metrics, with no API call, no agent and no permission
beyond writing logs. So an event that has numbers worth graphing (a job done, its
duration, its items) is one line that is both the log and the metric.

Lines go to standard error: Lambda keeps it like standard output, and the
``flask`` commands keep their standard output for what they print to people.

Why the standard library and not AWS Lambda Powertools (Logger, Metrics), the
field's convention: what we need is a JSON line and EMF's small envelope, about
sixty lines here, while Powertools 3.37 would add 1.0 MB of wheel (3.5 MB
unpacked) to a Lambda zip being cut to 12 MB, and its import to every cold start.

No line ever holds an email address or a user's ``sub`` itself: users appear as
``user_hash``, a truncated SHA-256 an operator can compute for a given sub to
find that user's lines.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

#: The CloudWatch namespace of every metric the app writes.
NAMESPACE = "KakeiboExport"
Unit = Literal["Count", "Seconds", "Bytes"]


def user_hash(sub: str) -> str:
    """Return the name a user goes by in logs: not the sub, never the email."""
    return hashlib.sha256(b"kakeibo-export user\0" + sub.encode()).hexdigest()[:16]


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass
class Telemetry:
    """Writes structured log lines, some with metrics; ``write`` takes one line (tests collect)."""

    #: Which function writes (``web``, ``worker``, ``dispatcher``, ``cli``).
    source: str = "app"
    write: Callable[[str], None] = field(default=_stderr)
    clock: Callable[[], float] = field(default=time.time)

    def event(self, name: str, *, level: str = "INFO", **fields: Any) -> None:
        """Write one JSON line for the event ``name`` with ``fields``."""
        self.write(json.dumps(self._line(name, level, fields), default=str, ensure_ascii=False))

    def measured(
        self,
        name: str,
        *,
        dimensions: Mapping[str, str],
        metrics: Mapping[str, tuple[float, Unit]],
        level: str = "INFO",
        **fields: Any,
    ) -> None:
        """Write one JSON line for ``name`` whose ``metrics`` CloudWatch also records (EMF)."""
        line = self._line(name, level, {**fields, **dimensions})
        line["_aws"] = {
            "Timestamp": int(self.clock() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": k, "Unit": unit} for k, (_, unit) in metrics.items()],
                }
            ],
        }
        line.update({k: value for k, (value, _) in metrics.items()})
        self.write(json.dumps(line, default=str, ensure_ascii=False))

    def _line(self, name: str, level: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        moment = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
        return {"time": moment, "level": level, "source": self.source, "event": name, **fields}

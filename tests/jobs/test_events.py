"""Job events are one JSON line each (never an email), and finished jobs are EMF metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token, damage_exports, truncate

from webapp.archive.dynamo import put_items
from webapp.aws import Clients
from webapp.jobs import export
from webapp.jobs.backup import backup_job_id
from webapp.jobs.dispatcher import run_schedule
from webapp.jobs.job import Job
from webapp.jobs.queue import JobMessage
from webapp.jobs.worker import Worker
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.telemetry import NAMESPACE, Telemetry, user_hash
from webapp.web.auth.session import User

TODAY = date(2026, 12, 3)
EMAIL = "alice@example.com"

#: CloudWatch's embedded metric format (its specification, as a JSON schema): the
#: ``_aws`` metadata; each directive's dimensions and metrics name members of the root.
UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "additionalProperties": False,
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": {
                                            "type": "string",
                                            "minLength": 1,
                                            "maxLength": 255,
                                        },
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check_emf(line: dict[str, Any]) -> None:
    """Fail unless ``line`` is an EMF document CloudWatch would turn into metrics."""
    jsonschema.validate(line, EMF_SCHEMA)
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                assert isinstance(line.get(name), str), f"dimension {name} is not a root string"
        for metric in directive["Metrics"]:
            value = line.get(metric["Name"])
            numbers = value if isinstance(value, list) else [value]
            assert numbers and all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
            ), f"metric {metric['Name']} is {value!r}"


class Lines:
    """What the services log: each line must parse as JSON."""

    def __init__(self) -> None:
        self.raw: list[str] = []

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.raw]

    def text(self) -> str:
        return "\n".join(self.raw)


@pytest.fixture
def lines(services: Services) -> Lines:
    """Collect what ``services`` log."""
    collected = Lines()
    services.telemetry.write = collected.raw.append
    return collected


def _seed(clients: Clients, settings: Settings, sub: str) -> None:
    slips = [
        {"user_id": {"S": sub}, "sk": {"S": f"2026-11-{n:02d}#{n}"}, "amount": {"N": "-1"}}
        for n in range(1, 6)
    ]
    put_items(clients.dynamodb, settings.slips_table, slips)


def test_an_export_logs_queued_claimed_progress_finished_as_json_without_the_email(
    services: Services, clients: Clients, settings: Settings, lines: Lines
) -> None:
    sub = "0a1b2c3d-0000-4000-8000-000000events"
    _seed(clients, settings, sub)
    params = export.ExportParams(start=date(2026, 11, 1), end=date(2026, 11, 30))
    job = services.jobs.create(Job.queued(sub, export.NAME, params.to_dict(), services.now()))

    Worker(services).process(JobMessage(sub, job.id).to_json())

    events = lines.parsed()
    assert [e["event"] for e in events] == ["queued", "claimed", "progress", "finished"]
    for event in events:
        assert event["job_id"] == job.id and event["kind"] == "export"
        assert event["user_hash"] == user_hash(sub) and sub not in json.dumps(event)
        assert event["source"] == "app" and event["level"] == "INFO"
    assert EMAIL not in lines.text() and "@" not in lines.text()
    finished = events[-1]
    assert finished["items"] == {"slips": 5, "balances": 0}
    assert finished["duration_s"] >= 0 and finished["total_s"] >= finished["duration_s"]
    check_emf(finished)
    (directive,) = finished["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["kind"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"JobsDone", "Duration", "Items", "ArchiveBytes", "Verified"}
    assert finished["JobsDone"] == 1 and finished["Items"] == 5 and finished["ArchiveBytes"] > 0


def test_a_backup_that_does_not_read_back_logs_its_error_class_as_failed(
    services: Services, clients: Clients, settings: Settings, lines: Lines
) -> None:
    sub = "0a1b2c3d-0000-4000-8000-00000failed"
    _seed(clients, settings, sub)
    services.backup_prefs.choose(sub, "weekly", today=TODAY, email=EMAIL)
    damage_exports(services, truncate)
    run_schedule(services, TODAY)

    LocalWorker(services).drain()

    events = lines.parsed()
    assert [e["event"] for e in events] == ["queued", "claimed", "progress", "failed"]
    failed = events[-1]
    assert failed["level"] == "WARNING" and failed["error_class"] == "ArchiveUnverified"
    assert failed["kind"] == "backup" and failed["JobsFailed"] == 1
    check_emf(failed)
    assert EMAIL not in lines.text()


def test_a_cancel_from_the_page_is_one_line(
    app: Flask,
    client: FlaskClient,
    user: User,
    login: Callable[[User], None],
    services: Services,
) -> None:
    raw: list[str] = []
    app.extensions["kakeibo.services"].telemetry.write = raw.append
    params = export.ExportParams(start=date(2026, 1, 1), end=date(2026, 1, 31))
    job = services.jobs.create(Job.queued(user.sub, export.NAME, params.to_dict(), services.now()))
    login(user)

    client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": csrf_token(client)})

    (line,) = [json.loads(text) for text in raw]
    assert line["event"] == "cancelled" and line["job_id"] == job.id and line["kind"] == "export"
    assert line["source"] == "web" and user.email not in raw[0] and user.sub not in raw[0]


def test_a_server_error_is_one_json_line_with_its_class_and_no_email(
    app: Flask,
    client: FlaskClient,
    user: User,
    login: Callable[[User], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw: list[str] = []
    services = app.extensions["kakeibo.services"]
    services.telemetry.write = raw.append

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the table is on fire")

    login(user)
    monkeypatch.setattr("webapp.web.exports.views.visible_jobs", broken)

    answer = client.get("/?start=2026-01-01")

    assert answer.status_code == 500
    (line,) = [json.loads(text) for text in raw]
    assert line["event"] == "request_error" and line["level"] == "ERROR"
    assert line["status"] == 500 and line["error_class"] == "RuntimeError"
    assert line["method"] == "GET" and line["path"] == "/" and "start=" not in raw[0]
    assert line["user_hash"] == user_hash(user.sub)
    assert user.email not in raw[0] and "on fire" not in raw[0]


def test_the_dispatcher_logs_each_backup_it_queues(services: Services, lines: Lines) -> None:
    services.backup_prefs.choose("u1", "weekly", today=TODAY, email=EMAIL)
    run_schedule(services, TODAY)

    (queued,) = lines.parsed()
    assert queued["event"] == "queued" and queued["job_id"] == backup_job_id(TODAY)
    assert queued["kind"] == "backup" and EMAIL not in lines.text()


def test_telemetry_writes_one_line_per_event() -> None:
    raw: list[str] = []
    telemetry = Telemetry(source="cli", write=raw.append, clock=lambda: 1_796_000_000.5)
    telemetry.event("hello", count=3, text="日本語")
    telemetry.measured(
        "sized", dimensions={"kind": "export"}, metrics={"ArchiveBytes": (10, "Bytes")}
    )
    assert len(raw) == 2 and all("\n" not in line for line in raw)
    first, second = (json.loads(line) for line in raw)
    assert first == {
        "time": "2026-11-30T00:53:20.500+00:00",
        "level": "INFO",
        "source": "cli",
        "event": "hello",
        "count": 3,
        "text": "日本語",
    }
    check_emf(second)
    assert second["_aws"]["Timestamp"] == 1_796_000_000_500
    with pytest.raises(AssertionError):
        check_emf({**second, "ArchiveBytes": "10"})
    with pytest.raises(jsonschema.ValidationError):
        check_emf({**second, "_aws": {"CloudWatchMetrics": []}})

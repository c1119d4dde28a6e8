"""Put the account book back to a moment from the page: the changes, "just before", a time.

Through Flask's test client and the real jobs, with the changes recorded from
moto's stream by the local poller, as in local mode.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from support import csrf_token, text

from webapp import create_app
from webapp.archive.dynamo import put_items
from webapp.local.recorder import LocalRecorder
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

Item = dict[str, Any]


def slip(sub: str, n: int, memo: str = "") -> Item:
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"2025-03-{1 + n:02d}#{n:04d}"},
        "amount": {"N": str(-100 - n)},
        "memo": {"S": memo or f"slip {n}"},
    }


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = replace(settings, changes_settle_seconds=0)
        self.services = Services(self.settings)
        self.recorder = LocalRecorder(self.services)
        self.worker = LocalWorker(self.services)
        app = create_app(self.settings)
        app.config["TESTING"] = True
        self.client: FlaskClient = app.test_client()

    def slips(self, sub: str) -> list[Item]:
        found = self.services.clients.dynamodb.query(
            TableName=self.settings.slips_table,
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": sub}},
        )
        return sorted(found["Items"], key=lambda item: item["sk"]["S"])


@pytest.fixture
def stack(settings: Settings, user: User) -> Stack:
    made = Stack(settings)
    with made.client.session_transaction() as session:
        session.update(sub=user.sub, email=user.email, exp=int(time.time()) + 3600)
    dynamodb = made.services.clients.dynamodb
    put_items(dynamodb, made.settings.slips_table, [slip(user.sub, n) for n in range(6)])
    dynamodb.put_item(
        TableName=made.settings.balances_table,
        Item={"user_id": {"S": user.sub}, "sk": {"S": "2025-03-31#cash"}, "balance": {"N": "9"}},
    )
    made.recorder.drain()
    time.sleep(0.01)
    return made


def delete_three(stack: Stack, sub: str) -> None:
    for n in (1, 2, 3):
        stack.services.clients.dynamodb.delete_item(
            TableName=stack.settings.slips_table,
            Key={"user_id": {"S": sub}, "sk": slip(sub, n)["sk"]},
        )
    stack.recorder.drain()


def test_just_before_a_listed_change_puts_the_slips_back_and_undo_removes_them_again(
    stack: Stack, user: User
) -> None:
    before = stack.slips(user.sub)
    delete_three(stack, user.sub)
    after = stack.slips(user.sub)

    page = stack.client.get("/restore/moments")
    assert page.status_code == 200
    shown = text(page)
    assert "3 slips deleted (March 2025)" in shown
    assert "6 slips added (March 2025)" in shown
    (at_ms,) = re.findall(r'name="at_ms" value="(\d+)"', page.get_data(as_text=True))[:1]
    # The newest change first: its button puts the book back to just before the deletion.
    answer = stack.client.post(
        "/restore/moments",
        data={"csrf_token": csrf_token(stack.client, "/restore/moments"), "at_ms": at_ms},
    )
    assert answer.status_code == 303
    check_url = answer.headers["Location"]
    stack.worker.drain()
    check = text(stack.client.get(check_url))
    assert "Put your account book back to" in check
    assert 'name="mode"' not in check  # a moment is always put back exactly (a replace)

    confirm = stack.client.post(
        f"{check_url}/confirm", data={"csrf_token": csrf_token(stack.client, check_url)}
    )
    assert confirm.status_code == 303
    stack.worker.drain()
    result = stack.client.get(confirm.headers["Location"])
    assert "Put back as it was at" in text(result)
    assert stack.slips(user.sub) == before

    undo = stack.client.post(
        f"{confirm.headers['Location']}/undo",
        data={"csrf_token": csrf_token(stack.client, confirm.headers["Location"])},
    )
    assert undo.status_code == 303
    stack.worker.drain()
    undo_check = undo.headers["Location"]
    stack.client.post(
        f"{undo_check}/confirm", data={"csrf_token": csrf_token(stack.client, undo_check)}
    )
    stack.worker.drain()
    assert stack.slips(user.sub) == after


def test_a_date_and_time_in_the_display_zone_is_checked(stack: Stack, user: User) -> None:
    zone = ZoneInfo(stack.settings.display_timezone)
    time.sleep(1)  # the field is to the second
    at = datetime.now(zone).replace(microsecond=0)
    time.sleep(1)
    before = stack.slips(user.sub)
    delete_three(stack, user.sub)

    answer = stack.client.post(
        "/restore/moments",
        data={
            "csrf_token": csrf_token(stack.client, "/restore/moments"),
            "when": at.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    assert answer.status_code == 303
    stack.worker.drain()
    checked = text(stack.client.get(answer.headers["Location"]))
    assert "Not in your account now" in checked
    stack.client.post(
        f"{answer.headers['Location']}/confirm",
        data={"csrf_token": csrf_token(stack.client, answer.headers["Location"])},
    )
    stack.worker.drain()
    assert stack.slips(user.sub) == before


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"when": "2001-01-01T00:00"},
        {"when": "not a time"},
        {"at_ms": "12"},
        {"at_ms": "-5"},
        {"at_ms": "9" * 40},
    ],
)
def test_a_moment_outside_the_log_or_no_moment_is_refused_with_nothing_queued(
    stack: Stack, data: dict[str, str]
) -> None:
    answer = stack.client.post(
        "/restore/moments",
        data={"csrf_token": csrf_token(stack.client, "/restore/moments"), **data},
    )

    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert 'class="field__error"' in page or 'class="form-error"' in page
    assert stack.worker.drain() == 0


def test_before_the_log_is_complete_no_moment_is_offered(
    settings: Settings, login: Callable[[User], None], client: FlaskClient, user: User
) -> None:
    login(user)

    page = text(client.get("/restore/moments"))

    assert "cannot be put back to a moment" in page
    assert 'name="when"' not in page


def test_the_page_speaks_japanese(stack: Stack, user: User) -> None:
    delete_three(stack, user.sub)
    stack.client.set_cookie("lang", "ja")

    page = text(stack.client.get("/restore/moments"))

    assert "伝票3件を削除（2025年3月）" in page
    assert "この直前に戻す…" in page
    assert "Recent changes" not in page


def test_the_exports_page_links_to_the_moments(stack: Stack) -> None:
    assert "/restore/moments" in stack.client.get("/").get_data(as_text=True)


def test_groups_are_per_minute_table_and_kind(stack: Stack, user: User) -> None:
    from webapp.changes.history import group_changes

    changes = stack.services.changes.changes(user.sub)
    groups = group_changes(changes, "Asia/Tokyo")
    assert sorted((g.table, g.event, g.count) for g in groups) == [
        ("balances", "INSERT", 1),
        ("slips", "INSERT", 6),
    ]
    assert all(g.minute.tzinfo is not None for g in groups)
    assert datetime.now(UTC) - groups[0].minute < timedelta(minutes=2)


def test_a_gap_in_the_log_is_shown_and_no_moment_before_it_offered(
    stack: Stack, user: User
) -> None:
    from webapp.changes.keys import Segment, tag_of
    from webapp.changes.store import utc_ms

    now = utc_ms(datetime.now(UTC))
    gap = Segment(now - 200, now - 100, tag_of(now), 1, 2)
    stack.services.changes.put_gap("slips", gap, {})

    page = stack.client.get("/restore/moments")

    assert "could not be recorded" in text(page)
    # The changes before the gap are listed, but without "Just before this…".
    assert "6 slips added" in text(page)
    assert 'name="at_ms"' not in page.get_data(as_text=True)

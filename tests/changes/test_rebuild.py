"""The operator's rebuild after a table loss: each user's newest backup plus the changes since."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from webapp.archive.dates import EVERYTHING
from webapp.archive.dynamo import put_items
from webapp.archive.export import ExportRequest
from webapp.archive.ids import BACKUP_PREFIX
from webapp.changes.keys import Segment, tag_of
from webapp.changes.store import utc_ms
from webapp.local.recorder import LocalRecorder
from webapp.local.resources import create_table
from webapp.services import Services

ALICE = "a11ce000-0000-4000-8000-0000000a11ce"
BOB = "b0b00000-0000-4000-8000-000000000b0b"
Item = dict[str, Any]


def slip(user: str, n: int, memo: str = "") -> Item:
    return {
        "user_id": {"S": user},
        "sk": {"S": f"2026-11-{1 + n:02d}#{n:04d}"},
        "memo": {"S": memo or f"slip {n}"},
    }


def query(services: Services, table: str, user: str) -> list[Item]:
    found = services.clients.dynamodb.query(
        TableName=table,
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": user}},
    )
    return sorted(found["Items"], key=lambda item: item["sk"]["S"])


def lose_the_tables(services: Services) -> None:
    dynamodb = services.clients.dynamodb
    for name in services.settings.data_tables.values():
        dynamodb.delete_table(TableName=name)
        create_table(dynamodb, name)


def history(services: Services) -> dict[str, list[Item]]:
    """Alice: slips, a backup, then changes; Bob: changes but no backup. Return what was lost."""
    dynamodb, slips = services.clients.dynamodb, services.settings.slips_table
    poller = LocalRecorder(services)
    put_items(dynamodb, slips, [slip(ALICE, n) for n in range(5)] + [slip(BOB, 1)])
    dynamodb.put_item(
        TableName=services.settings.balances_table,
        Item={"user_id": {"S": ALICE}, "sk": {"S": "2026-11#cash"}, "balance": {"N": "5"}},
    )
    poller.drain()
    time.sleep(1.1)  # the backup's id is to the second
    request = ExportRequest(sub=ALICE, period=EVERYTHING, prefix=BACKUP_PREFIX)
    services.exporter.export(request)
    dynamodb.delete_item(TableName=slips, Key={"user_id": {"S": ALICE}, "sk": slip(ALICE, 2)["sk"]})
    put_items(dynamodb, slips, [slip(ALICE, 3, "edited"), slip(ALICE, 9), slip(BOB, 2)])
    poller.drain()
    return {
        "slips": query(services, slips, ALICE),
        "balances": query(services, services.settings.balances_table, ALICE),
    }


def test_a_dry_run_counts_then_the_rebuild_restores_every_user_with_a_backup(
    app: Flask, services: Services
) -> None:
    lost = history(services)
    lose_the_tables(services)
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["rebuild", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{BOB}: skipped (no automatic backup)" in dry.output
    assert "slips: 5 written, 0 unchanged, 0 kept; balances: 1 written" in dry.output
    assert "Rebuilt 1 users (1 skipped): 5 slips and 1 balances would be written." in dry.output
    assert "Dry run: nothing was written." in dry.output
    assert query(services, services.settings.slips_table, ALICE) == []

    done = runner.invoke(args=["rebuild"])
    assert done.exit_code == 0, done.output
    assert "5 slips and 1 balances written." in done.output
    assert query(services, services.settings.slips_table, ALICE) == lost["slips"]
    assert query(services, services.settings.balances_table, ALICE) == lost["balances"]
    # Running it again writes nothing more.
    again = runner.invoke(args=["rebuild", "--user", ALICE])
    assert "0 slips and 0 balances written." in again.output


def test_a_user_whose_log_has_a_gap_since_the_backup_is_skipped(
    app: Flask, services: Services
) -> None:
    history(services)
    lose_the_tables(services)
    now = utc_ms(services.now())
    # A gap ending now: after the backup, whatever second its id was floored to.
    services.changes.put_gap("slips", Segment(now - 1, now, tag_of(now), 1, 2), {})

    out = app.test_cli_runner().invoke(args=["rebuild"]).output

    assert f"{ALICE}: skipped (the change log is not complete since the backup" in out
    assert query(services, services.settings.slips_table, ALICE) == []

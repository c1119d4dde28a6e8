"""Demo data: deterministic, realistic, two years for each of two users."""

from __future__ import annotations

from datetime import date, timedelta

from webapp.aws import Clients
from webapp.local.demo import ACCOUNTS, DEMO_USERS, demo_items
from webapp.local.stack import seed_demo
from webapp.settings import Settings

TODAY = date(2026, 11, 25)


def test_demo_items_are_deterministic() -> None:
    assert demo_items("sub-1", "demo@example.com", TODAY) == demo_items(
        "sub-1", "demo@example.com", TODAY
    )
    assert demo_items("sub-1", "demo@example.com", TODAY) != demo_items(
        "sub-1", "other@example.com", TODAY
    )


def test_demo_slips_span_two_years_ending_today() -> None:
    slips, balances = demo_items("sub-1", "demo@example.com", TODAY)
    dates = sorted(date.fromisoformat(s["date"]) for s in slips)
    assert dates[-1] == TODAY
    assert TODAY - dates[0] >= timedelta(days=729)
    assert 1000 < len(slips) < 5000
    assert all(s["user_id"] == "sub-1" for s in slips + balances)
    assert all(s["sk"].startswith(s["date"] + "#") for s in slips + balances)
    assert {s["kind"] for s in slips} == {"expense", "income", "transfer"}
    assert {s["account"] for s in slips} == set(ACCOUNTS)
    assert len({s["sk"] for s in slips}) == len(slips)


def test_demo_memos_include_the_hard_cases() -> None:
    slips, _ = demo_items("sub-1", "demo@example.com", TODAY)
    memos = [s["memo"] for s in slips]
    assert any("," in m for m in memos)
    assert any('"' in m for m in memos)
    assert any("\n" in m for m in memos)
    assert any("=" in m for m in memos)
    assert any(any("\u3040" <= ch <= "\u30ff" for ch in m) for m in memos)
    assert any(s["amount"] < 0 for s in slips)
    assert all(isinstance(s["amount"], int) for s in slips)


def test_demo_balances_are_month_ends_per_account() -> None:
    _, balances = demo_items("sub-1", "demo@example.com", TODAY)
    assert {b["account"] for b in balances} == set(ACCOUNTS)
    for b in balances:
        day = date.fromisoformat(b["date"])
        assert (day + timedelta(days=1)).day == 1
        assert b["sk"] == f"{b['date']}#{b['account']}"
    assert 20 <= len(balances) // len(ACCOUNTS) <= 25


def test_seed_demo_loads_both_users_into_both_tables(settings: Settings, clients: Clients) -> None:
    users = seed_demo(settings, today=TODAY)
    assert set(users) == set(DEMO_USERS)
    assert len(set(users.values())) == 2
    for table in (settings.slips_table, settings.balances_table):
        for sub in users.values():
            answer = clients.dynamodb.query(
                TableName=table,
                KeyConditionExpression="user_id = :u",
                ExpressionAttributeValues={":u": {"S": sub}},
                Select="COUNT",
            )
            assert answer["Count"] > 0

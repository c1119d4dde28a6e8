"""Deterministic demo data: two years of a household's account book."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..model import PARTITION_KEY, SORT_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEMO_PASSWORD = "Demo-1234-kakeibo"
DEMO_USERS = ("demo@example.com", "other@example.com")
ACCOUNTS = ("cash", "bank", "card")
JST = timezone(timedelta(hours=9))

# (category, shops, low, high, account weights) for everyday spending.
_EXPENSES: list[tuple[str, tuple[str, ...], int, int]] = [
    ("食費", ("イオン", "業務スーパー", "セブン-イレブン", "ローソン", "八百屋"), 180, 4800),
    ("外食", ("すき家", "サイゼリヤ", "スターバックス", "大戸屋", "ラーメン二郎"), 450, 3800),
    ("日用品", ("マツモトキヨシ", "ダイソー", "無印良品", "ニトリ"), 110, 3500),
    ("交通費", ("JR東日本", "東京メトロ", "Suicaチャージ", "タクシー"), 170, 5000),
    ("趣味・娯楽", ("紀伊國屋書店", "TOHOシネマズ", "Amazon", "ヨドバシカメラ"), 500, 12000),
    ("衣服", ("ユニクロ", "GU", "しまむら"), 990, 8900),
    ("医療費", ("さくら内科", "調剤薬局"), 600, 4200),
]
_MEMOS = (
    "",
    "",
    "",
    "ランチ, 同僚と",
    '"特売"の卵',
    "領収書あり\n経費精算する",
    "=SUM(A1:A3)",
    "-5%割引適用",
    "+ポイント払い",
    "@キャンペーン",
    "週末のまとめ買い",
    "家族で😀",
)


def _slip(
    rng: random.Random,
    sub: str,
    day: date,
    kind: str,
    category: str,
    account: str,
    amount: int,
    memo: str,
) -> dict[str, Any]:
    slip_id = f"{rng.getrandbits(48):012x}"
    created = datetime.combine(day, time(rng.randrange(7, 23), rng.randrange(60)), JST)
    return {
        PARTITION_KEY: sub,
        SORT_KEY: f"{day.isoformat()}#{slip_id}",
        "date": day.isoformat(),
        "kind": kind,
        "category": category,
        "account": account,
        "amount": amount,
        "memo": memo,
        "created_at": created.isoformat(timespec="seconds"),
    }


def iter_slips(sub: str, seed: str, end: date, days: int = 731) -> Iterator[dict[str, Any]]:
    """Yield a few slips a day for ``days`` days ending on ``end``, seeded."""
    rng = random.Random(seed)
    start = end - timedelta(days=days - 1)
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.day == 25:
            yield _slip(rng, sub, day, "income", "給与", "bank", 285000, "株式会社カケイボ 給与")
        if day.day == 27:
            yield _slip(rng, sub, day, "expense", "住居費", "bank", -82000, "家賃")
            yield _slip(rng, sub, day, "transfer", "振替", "cash", 30000, "ATM引き出し")
        if day.day == 10:
            bill = -rng.randrange(6000, 14000)
            yield _slip(rng, sub, day, "expense", "水道・光熱費", "card", bill, "電気・ガス")
        for _ in range(rng.choice((1, 2, 2, 3))):
            category, shops, low, high = rng.choice(_EXPENSES)
            account = rng.choices(ACCOUNTS, weights=(5, 1, 4))[0]
            amount = -rng.randrange(low, high, 10)
            memo = rng.choice(_MEMOS)
            shop = rng.choice(shops)
            yield _slip(
                rng, sub, day, "expense", category, account, amount, f"{shop} {memo}".strip()
            )


def month_ends(start: date, end: date) -> Iterator[date]:
    """Yield the last day of each month between ``start`` and ``end``."""
    day = date(start.year, start.month, 1)
    while day <= end:
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        last = following - timedelta(days=1)
        if start <= last <= end:
            yield last
        day = following


def iter_balances(slips: list[dict[str, Any]], sub: str, end: date) -> Iterator[dict[str, Any]]:
    """Yield each account's balance at every month end covered by ``slips``."""
    if not slips:
        return
    opening = {"cash": 42000, "bank": 1250000, "card": 0}
    ordered = sorted(slips, key=lambda s: str(s[SORT_KEY]))
    first = date.fromisoformat(ordered[0]["date"])
    index = 0
    running = dict(opening)
    for month_end in month_ends(first, end):
        while index < len(ordered) and ordered[index]["date"] <= month_end.isoformat():
            slip = ordered[index]
            running[slip["account"]] += slip["amount"]
            if slip["kind"] == "transfer":
                running["bank"] -= slip["amount"]
            index += 1
        for account in ACCOUNTS:
            yield {
                PARTITION_KEY: sub,
                SORT_KEY: f"{month_end.isoformat()}#{account}",
                "date": month_end.isoformat(),
                "account": account,
                "balance": running[account],
            }
        # The card is paid off from the bank after each month end.
        running["bank"] += running["card"]
        running["card"] = 0


def demo_items(
    sub: str, email: str, end: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (slips, balances) of one demo user, the same for the same inputs."""
    slips = list(iter_slips(sub, seed=email, end=end))
    return slips, list(iter_balances(slips, sub, end))


def write_items(dynamodb: DynamoDBClient, table: str, items: list[dict[str, Any]]) -> None:
    """Write plain items with BatchWriteItem (demo and test data only)."""
    from boto3.dynamodb.types import TypeSerializer

    from ..archive.dynamo import put_items

    serializer = TypeSerializer()
    put_items(
        dynamodb,
        table,
        ({k: serializer.serialize(v) for k, v in item.items()} for item in items),
    )

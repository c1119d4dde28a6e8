"""The data model of the two kakeibo tables, shared by every part of the app.

Both tables are keyed the same way: partition key ``user_id`` (the Cognito
``sub``) and sort key ``sk`` beginning with the ISO date, so a date range is one
Query on the key. The exporter relies on nothing beyond these keys; the column
lists only order the CSV and are never required to be present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TableName = Literal["slips", "balances"]
TABLES: tuple[TableName, ...] = ("slips", "balances")

PARTITION_KEY = "user_id"
SORT_KEY = "sk"

#: DynamoDB ``KeySchema`` and ``AttributeDefinitions`` of both tables.
KEY_SCHEMA = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]


@dataclass(frozen=True)
class TableSpec:
    """What the app knows of one table: its known columns, in CSV order."""

    name: TableName
    columns: tuple[str, ...]
    #: What a person knows an item by (a restore's preview shows these, never the keys).
    shown: tuple[str, ...] = ()


SPECS: dict[TableName, TableSpec] = {
    "slips": TableSpec(
        name="slips",
        columns=(
            PARTITION_KEY,
            SORT_KEY,
            "date",
            "kind",
            "category",
            "account",
            "amount",
            "memo",
            "created_at",
        ),
        shown=("date", "kind", "category", "account", "memo", "amount"),
    ),
    "balances": TableSpec(
        name="balances",
        columns=(PARTITION_KEY, SORT_KEY, "date", "account", "balance"),
        shown=("date", "account", "balance"),
    ),
}

"""Export, delete, restore: the data comes back exactly (and with DynamoDB's own import).

These tests go through the real export engine (``webapp.export``) into moto's S3
and back, so what they prove is the archive format end to end.
"""

from __future__ import annotations

import gzip
import io
import json
import time
import uuid
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support import run_export

from webapp.archive.dates import DateRange
from webapp.archive.export import ExportResult
from webapp.archive.manifest import MANIFEST_NAME, data_file
from webapp.archive.reader import open_archive
from webapp.archive.restore import RestoreRequest, restore_archive
from webapp.aws import Clients
from webapp.local.demo import iter_balances, iter_slips, write_items
from webapp.model import TABLES, TableName
from webapp.secret_key import archive_keyring
from webapp.settings import Settings

RANGE = DateRange(start=date(2025, 1, 1), end=date(2025, 12, 31))
OTHER = "ffffffff-0000-4000-8000-00000000other"

Item = dict[str, Any]


def targets(settings: Settings) -> dict[TableName, str]:
    """Return the DynamoDB table of each kakeibo table."""
    return {"slips": settings.slips_table, "balances": settings.balances_table}


def export(clients: Clients, settings: Settings, sub: str, **options: Any) -> ExportResult:
    """Export ``sub``'s year 2025 with the real engine."""
    return run_export(
        dynamodb=clients.dynamodb,
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables=targets(settings),
        sub=sub,
        date_range=RANGE,
        signing_key=archive_keyring(settings, clients).current(),
        **options,
    )


def download(clients: Clients, settings: Settings, key: str) -> bytes:
    """Return an archive's bytes from S3."""
    return clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()


def user_items(clients: Clients, table: str, sub: str) -> list[Item]:
    """Return one user's items of a table, in key order (no date filter)."""
    answer = clients.dynamodb.query(
        TableName=table,
        KeyConditionExpression="user_id = :sub",
        ExpressionAttributeValues={":sub": {"S": sub}},
    )
    assert "LastEvaluatedKey" not in answer
    return answer["Items"]


def delete_user(clients: Clients, table: str, sub: str) -> None:
    """Delete every item of one user from a table (what a mistake would do)."""
    keys = [
        {"user_id": item["user_id"], "sk": item["sk"]} for item in user_items(clients, table, sub)
    ]
    for start in range(0, len(keys), 25):
        requests: Any = [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
        clients.dynamodb.batch_write_item(RequestItems={table: requests})
    assert user_items(clients, table, sub) == []


def put_typed(clients: Clients, table: str, items: list[Item]) -> None:
    """Write items already in the low-level client's typed form."""
    for start in range(0, len(items), 25):
        requests: Any = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        pending = {table: requests}
        while pending:
            pending = (
                clients.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                or {}
            )


def canonical(value: Any) -> Any:
    """Return a comparable form of a typed value: DynamoDB keeps no order inside a set."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, raw),) = value.items()
        if kind in ("SS", "BS"):
            return (kind, frozenset(raw))
        if kind == "NS":
            return (kind, frozenset(Decimal(n) for n in raw))
        if kind == "M":
            return (kind, {k: canonical(v) for k, v in raw.items()})
        if kind == "L":
            return (kind, [canonical(v) for v in raw])
        if kind == "N":
            return (kind, Decimal(raw))
        return (kind, raw)
    raise AssertionError(f"not a typed value: {value!r}")


def canonical_items(items: list[Item]) -> list[dict[str, Any]]:
    """Return items in canonical form, sorted by key."""
    ordered = sorted(items, key=lambda i: (i["user_id"]["S"], i["sk"]["S"]))
    return [{k: canonical(v) for k, v in item.items()} for item in ordered]


# --- strategies: random items as the low-level client takes them -----------------------------

TRICKY = [
    "",
    "家計簿",
    "スーパーで買い物😀🍙",
    "ランチ, 同僚と",
    '"特売"の卵',
    'say ""hi""',
    "領収書あり\n経費精算",
    "line\r\nbreak",
    "=SUM(A1:A3)",
    '=HYPERLINK("http://x")',
    "+81",
    "-5%",
    "@here",
    "\t tab",
    "\u2028\u2029",
    "\x00nul",
]
EDGE_NUMBERS = [
    "0",
    "-1",
    "1.5",
    "-0.001",
    "12345678901234567890123456789012345678",
    "-99999999999999999999999999999999999999",
    "0.12345678901234567890123456789012345678",
    "9.9999999999999999999999999999999999999E+125",
    "-9.9999999999999999999999999999999999999E+125",
    "1E-130",
    "-1E-130",
]


@st.composite
def decimals(draw: st.DrawFn) -> Decimal:
    """Return a number DynamoDB can store: up to 38 digits, exponent -130..+125."""
    digits = draw(st.integers(min_value=0, max_value=10**38 - 1))
    exponent = draw(st.integers(min_value=-130, max_value=125 - 37))
    sign = draw(st.integers(0, 1))
    return Decimal((sign, tuple(int(d) for d in str(digits)), exponent))


numbers = st.one_of(st.sampled_from(EDGE_NUMBERS).map(Decimal), decimals())
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
attribute_names = st.one_of(
    st.sampled_from(["memo", "amount", "名前", "😀", "a.b", "#x"]), st.text(min_size=1, max_size=6)
).filter(lambda n: n not in ("user_id", "sk"))

scalars = st.one_of(
    texts.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": str(n)}),
    st.binary(max_size=12).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(texts, min_size=1, max_size=4).map(lambda s: {"SS": sorted(s)}),
    st.sets(numbers, min_size=1, max_size=4).map(lambda s: {"NS": [str(n) for n in s]}),
    st.sets(st.binary(max_size=6), min_size=1, max_size=4).map(lambda s: {"BS": sorted(s)}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(attribute_names, inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=6,
)


@st.composite
def items(draw: st.DrawFn, sub: str = "pending") -> Item:
    """Return one item of a user in 2025, keyed like the kakeibo tables."""
    day = draw(st.dates(min_value=RANGE.start, max_value=RANGE.end))
    suffix = draw(st.text(min_size=1, max_size=10))
    item: Item = {"user_id": {"S": sub}, "sk": {"S": f"{day.isoformat()}#{suffix}"}}
    item["memo"] = {"S": draw(texts)}
    item.update(draw(st.dictionaries(attribute_names, values, max_size=5)))
    return item


table_items = st.lists(items(), max_size=6, unique_by=lambda i: i["sk"]["S"])


@pytest.fixture
def other_user(clients: Clients, settings: Settings) -> dict[TableName, list[Item]]:
    """Write another user's items, with the same kind of keys, into both tables."""
    written: dict[TableName, list[Item]] = {}
    for table, name in targets(settings).items():
        rows: list[Item] = [
            {"user_id": {"S": OTHER}, "sk": {"S": f"2025-06-{d:02d}#x"}, "memo": {"S": "他人"}}
            for d in range(1, 4)
        ]
        put_typed(clients, name, rows)
        written[table] = user_items(clients, name, OTHER)
    return written


@hsettings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(slips=table_items, balances=table_items)
def test_export_delete_restore_gives_back_every_item_exactly(
    clients: Clients,
    settings: Settings,
    other_user: dict[TableName, list[Item]],
    slips: list[Item],
    balances: list[Item],
) -> None:
    # A fresh user per example: moto is not reset between examples.
    sub = str(uuid.uuid4())
    generated: dict[TableName, list[Item]] = {
        table: [{**row, "user_id": {"S": sub}} for row in rows]
        for table, rows in (("slips", slips), ("balances", balances))
    }
    names = targets(settings)
    for table in TABLES:
        put_typed(clients, names[table], generated[table])
    before = {table: user_items(clients, names[table], sub) for table in TABLES}
    for table in TABLES:
        assert canonical_items(before[table]) == canonical_items(generated[table])

    result = export(clients, settings, sub)
    assert result.counts == {"slips": len(slips), "balances": len(balances)}
    raw = download(clients, settings, result.key)
    for table in TABLES:
        delete_user(clients, names[table], sub)

    with open_archive(io.BytesIO(raw)) as archive:
        written = restore_archive(
            archive, RestoreRequest(), dynamodb=clients.dynamodb, tables=names
        ).tables

    assert {table: done.written for table, done in written.items()} == {
        "slips": len(slips),
        "balances": len(balances),
    }
    for table in TABLES:
        after = user_items(clients, names[table], sub)
        assert canonical_items(after) == canonical_items(before[table])
        assert user_items(clients, names[table], OTHER) == other_user[table]


def demo_year(sub: str) -> dict[TableName, list[dict[str, Any]]]:
    """Return two months of realistic demo data at the end of 2025."""
    slips = list(iter_slips(sub, seed="roundtrip", end=RANGE.end, days=61))
    return {"slips": slips, "balances": list(iter_balances(slips, sub, RANGE.end))}


def test_restore_command_round_trips_an_exported_archive(
    app: Flask, clients: Clients, settings: Settings, tmp_path: Path
) -> None:
    sub = str(uuid.uuid4())
    names = targets(settings)
    for table, rows in demo_year(sub).items():
        write_items(clients.dynamodb, names[table], rows)
    put_typed(clients, names["slips"], [{"user_id": {"S": OTHER}, "sk": {"S": "2025-12-01#o"}}])
    before = {table: user_items(clients, names[table], sub) for table in TABLES}
    other_before = user_items(clients, names["slips"], OTHER)
    result = export(clients, settings, sub)
    path = tmp_path / "archive.zip"
    path.write_bytes(download(clients, settings, result.key))
    for table in TABLES:
        delete_user(clients, names[table], sub)

    outcome = app.test_cli_runner().invoke(args=["restore", str(path)])

    assert outcome.exit_code == 0, outcome.output
    for table in TABLES:
        written = f"{table}: {len(before[table])} written, 0 deleted, 0 unchanged in {names[table]}"
        assert written in outcome.output
        assert user_items(clients, names[table], sub) == before[table]
    assert user_items(clients, names["slips"], OTHER) == other_before


def test_restore_refuses_a_csv_only_export_and_says_why(
    app: Flask, clients: Clients, settings: Settings, tmp_path: Path
) -> None:
    sub = str(uuid.uuid4())
    names = targets(settings)
    rows = demo_year(sub)
    write_items(clients.dynamodb, names["balances"], rows["balances"])
    path = tmp_path / "csv-only.zip"
    path.write_bytes(
        download(clients, settings, export(clients, settings, sub, formats={"csv"}).key)
    )
    delete_user(clients, names["balances"], sub)

    outcome = app.test_cli_runner().invoke(args=["restore", str(path), "--table", "balances"])

    assert outcome.exit_code == 1
    assert "holds balances as CSV only, which cannot be restored exactly" in outcome.output
    assert "Nothing was written." in outcome.output
    assert user_items(clients, names["balances"], sub) == []


# moto's import_table reads lines with py-partiql-parser's JsonParser (0.6.3),
# which does not decode JSON escapes: a quote, apostrophe, backslash or control
# character in a string comes out wrong or fails the import, and an empty map
# drops the whole item. DynamoDB's own import reads standard JSON. So the items
# imported here avoid those; the rest is an expected failure that starts to pass
# (and so fails, being strict) once moto's parser is fixed.
PLAIN_TEXTS = [t for t in TRICKY if t.isprintable() and not set(t) & set("\"'\\")]
ESCAPED_TEXTS = [t for t in TRICKY if t not in PLAIN_TEXTS]


def import_items(texts: list[str], empty_map: bool = False) -> list[Item]:
    """Return items with every type, the given texts, 38-digit and extreme numbers."""
    return [
        {
            "user_id": {"S": "import-user"},
            "sk": {"S": f"2025-05-{n + 1:02d}#{n}"},
            "memo": {"S": text},
            "amount": {"N": number},
            "receipt": {"B": bytes([n, 0, 255])},
            "empty": {"B": b""},
            "tags": {"SS": sorted({"食費", text})},
            "splits": {"NS": sorted({"7", number}, key=Decimal)},
            "scans": {"BS": [b"\x00", b"\x01" * (n + 1)]},
            "paid": {"BOOL": n % 2 == 0},
            "note": {"NULL": True},
            "detail": {
                "M": {
                    "shop": {"S": "イオン"},
                    "items": {"L": [{"N": "3"}, {"S": text}, {"L": []}]},
                    **({"extra": {"M": {}}} if empty_map else {}),
                }
            },
        }
        for n, (text, number) in enumerate(zip(texts, EDGE_NUMBERS * 2, strict=False))
    ]


def wait_for_import(clients: Clients, arn: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll describe_import until moto's import thread finishes."""
    deadline = time.monotonic() + timeout
    while True:
        described = clients.dynamodb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if described["ImportStatus"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.05)


MOTO_ESCAPES = pytest.mark.xfail(
    strict=True,
    reason="moto's import_table (py-partiql-parser 0.6.3 JsonParser) does not decode JSON "
    "escapes: items with a quote, apostrophe, backslash or control character fail the import",
)
MOTO_EMPTY_MAP = pytest.mark.xfail(
    strict=True,
    reason="moto's import_table (py-partiql-parser 0.6.3 JsonParser) drops an item holding "
    'an empty map ({"M": {}}): the import completes with 0 of 1 items',
)


@pytest.mark.parametrize(
    ("slips", "compression"),
    [
        (import_items(PLAIN_TEXTS), "NONE"),
        (import_items(PLAIN_TEXTS), "GZIP"),
        pytest.param(import_items(ESCAPED_TEXTS), "GZIP", marks=MOTO_ESCAPES, id="escapes"),
        pytest.param(
            import_items(["x"], empty_map=True), "NONE", marks=MOTO_EMPTY_MAP, id="emptymap"
        ),
    ],
)
def test_dynamodb_import_table_loads_the_archive_json_files(
    clients: Clients, settings: Settings, slips: list[Item], compression: str
) -> None:
    sub = "import-user"
    names = targets(settings)
    balances = [
        {"user_id": {"S": sub}, "sk": {"S": f"2025-0{m}-28#cash"}, "balance": {"N": str(m * 1000)}}
        for m in range(1, 4)
    ]
    put_typed(clients, names["slips"], slips)
    put_typed(clients, names["balances"], balances)
    originals = {table: user_items(clients, names[table], sub) for table in TABLES}
    assert len(originals["slips"]) == len(slips)
    raw = download(clients, settings, export(clients, settings, sub).key)

    # What the README tells a user to do: unzip, upload the .json files (plain
    # or gzip) under a prefix per table, import with the manifest's key schema.
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        manifest = json.loads(zf.read(MANIFEST_NAME))
        for table in TABLES:
            body = zf.read(data_file(table, "json"))
            name = data_file(table, "json")
            if compression == "GZIP":
                body, name = gzip.compress(body), name + ".gz"
            clients.s3.put_object(
                Bucket=settings.export_bucket, Key=f"import/{table}/{name}", Body=body
            )

    for table in TABLES:
        entry = manifest["tables"][table]
        started = clients.dynamodb.import_table(
            S3BucketSource={"S3Bucket": settings.export_bucket, "S3KeyPrefix": f"import/{table}/"},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType=compression,  # type: ignore[arg-type]
            TableCreationParameters={
                "TableName": f"restored-{table}",
                "KeySchema": entry["key_schema"],
                "AttributeDefinitions": entry["attribute_definitions"],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
        described = wait_for_import(clients, started["ImportTableDescription"]["ImportArn"])
        assert described["ImportStatus"] == "COMPLETED", described
        assert described["ImportedItemCount"] == entry["item_count"] == len(originals[table])
        imported = clients.dynamodb.scan(TableName=f"restored-{table}")["Items"]
        assert canonical_items(imported) == canonical_items(originals[table])

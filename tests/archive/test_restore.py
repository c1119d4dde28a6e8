"""Restore: the core (decoding, verifying, writing) and the ``restore`` command.

Archives here are built by hand with zipfile, following the export layout, so
every refusal can be produced exactly; the round trip through the real export
engine is in ``test_restore_roundtrip.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber
from flask import Flask

from webapp import create_app
from webapp.archive.decode import decode_line
from webapp.archive.dynamo import put_items
from webapp.archive.errors import RestoreError, WriteError
from webapp.archive.manifest import FORMAT_NAME, MANIFEST_NAME, README_NAME, data_file
from webapp.archive.reader import open_archive
from webapp.archive.restore import RestoreRequest, plan_restore, restore_archive
from webapp.archive.signing import SIGNATURE_NAME, SigningKey, sign
from webapp.aws import Clients
from webapp.local.demo import write_items
from webapp.local.resources import create_table
from webapp.local.stack import provision
from webapp.model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA
from webapp.settings import Settings

SUB = "0a1b2c3d-0000-4000-8000-000000000001"
OTHER = "0a1b2c3d-0000-4000-8000-000000000002"
NEW = "0a1b2c3d-0000-4000-8000-000000000003"

#: The key this module's installation signs archives with (``ARCHIVE_KEY``).
ARCHIVE_KEY = "test-archive-key-0123456789abcdef0123456789abcdef"
KEY = SigningKey(kid="static", secret=ARCHIVE_KEY.encode())

Files = dict[str, bytes]
Manifest = dict[str, Any]


# --- building archives by hand ------------------------------------------------------------


def wire(value: Any) -> dict[str, Any]:
    """Return DynamoDB JSON of a Python value, as Export to S3 writes it (B as base64)."""
    typed = TypeSerializer().serialize(value)
    return _b64(typed)


def _b64(typed: dict[str, Any]) -> dict[str, Any]:
    (kind, raw), *_ = typed.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(raw)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode() for v in raw]}
    if kind == "M":
        return {"M": {k: _b64(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_b64(v) for v in raw]}
    return {kind: raw}


def json_line(item: dict[str, Any]) -> bytes:
    """Return one compact ``{"Item": ...}`` line."""
    typed = {name: wire(value) for name, value in item.items()}
    return (json.dumps({"Item": typed}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def slip(sub: str, n: int, **extra: Any) -> dict[str, Any]:
    """Return a realistic slip; ``n`` makes its sort key unique."""
    return {
        "user_id": sub,
        "sk": f"2025-03-{1 + n % 28:02d}#{n:012x}",
        "date": f"2025-03-{1 + n % 28:02d}",
        "kind": "expense",
        "category": "食費",
        "account": "cash",
        "amount": Decimal(-100 - n),
        "memo": ["", "ランチ, 同僚と", '"特売"の卵', "領収書あり\n経費精算", "=SUM(A1)", "😀"][
            n % 6
        ],
        "created_at": "2025-03-01T12:00:00+09:00",
        **extra,
    }


def balance(sub: str, account: str) -> dict[str, Any]:
    """Return a month-end balance."""
    return {
        "user_id": sub,
        "sk": f"2025-03-31#{account}",
        "date": "2025-03-31",
        "account": account,
        "balance": Decimal(12345),
    }


ODD = {
    "bin": b"\x00\xffkakeibo",
    "empty_bin": b"",
    "bins": {b"\x01", b"\x02\x03"},
    "strs": {"a", "家計簿", ""},
    "nums": {Decimal("1"), Decimal("-2.5"), Decimal("12345678901234567890123456789012345678")},
    "huge": Decimal("9.9999999999999999999999999999999999999E+125"),
    "tiny": Decimal("-1E-130"),
    "nothing": None,
    "yes": True,
    "no": False,
    "nested": {"l": [1, "二", {"m": [None, {b"\x00"}]}], "empty_map": {}, "empty_list": []},
}


def sample() -> dict[str, list[dict[str, Any]]]:
    """Return 30 slips (more than one batch) and 3 balances of ``SUB``."""
    slips = [slip(SUB, n) for n in range(29)] + [slip(SUB, 29, **ODD)]
    return {"slips": slips, "balances": [balance(SUB, a) for a in ("cash", "bank", "card")]}


def archive_parts(
    items: dict[str, list[dict[str, Any]]],
    *,
    sub: str = SUB,
    formats: tuple[str, ...] = ("csv", "json"),
) -> tuple[Files, Manifest]:
    """Return the files and manifest an export of ``items`` would hold."""
    files: Files = {}
    tables: dict[str, Any] = {}
    for table, unsorted in items.items():
        # In sort-key order, as a Query returns them and the exporter writes them.
        rows = sorted(unsorted, key=lambda row: str(row["sk"]))
        listed: dict[str, Any] = {}
        for fmt in formats:
            name = data_file(table, fmt)  # type: ignore[arg-type]
            if fmt == "json":
                body = b"".join(json_line(row) for row in rows)
            else:
                body = "\ufeffuser_id,sk\r\n".encode() + b"".join(
                    f"{row['user_id']},{row['sk']}\r\n".encode() for row in rows
                )
            files[name] = body
            listed[name] = {
                "format": "dynamodb-json" if fmt == "json" else "csv",
                "bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        tables[table] = {
            "table_name": f"prod-{table}",
            "key_schema": KEY_SCHEMA,
            "attribute_definitions": ATTRIBUTE_DEFINITIONS,
            "item_count": len(rows),
            "files": listed,
        }
    manifest = {
        "format": FORMAT_NAME,
        "format_version": 1,
        "created_at": "2026-11-25T19:34:42Z",
        "user_sub": sub,
        "range": {"start": "2025-01-01", "end": "2025-12-31"},
        "tables": tables,
    }
    return files, manifest


def write_zip(
    path: Path,
    files: Files,
    manifest: Manifest | bytes | None,
    *,
    key: SigningKey | None = KEY,
    compression: int = zipfile.ZIP_DEFLATED,
    readme: bytes = b"Kakeibo Export archive\n",
) -> Path:
    """Write files, then the manifest (signed with ``key``) and README, as the exporter did."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, body in files.items():
            zf.writestr(name, body)
        if manifest is not None:
            raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            zf.writestr(MANIFEST_NAME, raw)
            if key is not None:
                zf.writestr(SIGNATURE_NAME, sign(raw, key))
        zf.writestr(README_NAME, readme)
    return path


# This module provisions moto once and each test leaves both tables empty again:
# conftest's fresh provisioning and boto3 clients per test would cost most of
# its run time, for tables that hold a few dozen items.


@pytest.fixture(scope="module")
def provisioned(moto_endpoint: str) -> Settings:
    """Reset moto and create the bucket, tables and pool once for this module."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    return provision(moto_endpoint, archive_key=ARCHIVE_KEY)


@pytest.fixture(scope="module")
def shared_clients(provisioned: Settings) -> Clients:
    """Return the module's boto3 clients."""
    return Clients(provisioned)


@pytest.fixture(scope="module")
def app(provisioned: Settings) -> Flask:
    """Return the app of this module's resources."""
    app = create_app(provisioned)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def clients(shared_clients: Clients) -> Clients:
    """Return the module's boto3 clients."""
    return shared_clients


@pytest.fixture
def settings(provisioned: Settings, shared_clients: Clients) -> Iterator[Settings]:
    """Return the module's settings; afterwards empty (or re-create) both tables."""
    yield provisioned
    dynamodb = shared_clients.dynamodb
    for name in (provisioned.slips_table, provisioned.balances_table):
        try:
            keys = dynamodb.scan(TableName=name, ProjectionExpression="user_id, sk")["Items"]
        except dynamodb.exceptions.ResourceNotFoundException:
            create_table(dynamodb, name)
            continue
        for start in range(0, len(keys), 25):
            requests: Any = [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={name: requests})


@pytest.fixture
def good_zip(tmp_path: Path) -> Path:
    """Return a valid archive of ``sample()``."""
    files, manifest = archive_parts(sample())
    return write_zip(tmp_path / "good.zip", files, manifest)


def table_items(clients: Clients, table: str) -> list[dict[str, Any]]:
    """Return every item of a table, sorted by key (test tables are small)."""
    items = clients.dynamodb.scan(TableName=table)["Items"]
    return sorted(items, key=lambda i: (i["user_id"]["S"], i["sk"]["S"]))


def expected(rows: list[dict[str, Any]], sub: str | None = None) -> list[dict[str, Any]]:
    """Return how DynamoDB's low-level client reads ``rows`` back (optionally moved to sub)."""
    lines = [decode_line(json_line(row), "test") for row in rows]
    if sub:
        for item in lines:
            item["user_id"] = {"S": sub}
    return sorted(lines, key=lambda i: (i["user_id"]["S"], i["sk"]["S"]))


def normal(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return items with sets as frozensets: DynamoDB does not keep set order."""

    def value(v: dict[str, Any]) -> Any:
        (kind, raw), *_ = v.items()
        if kind in ("SS", "NS", "BS"):
            return (kind, frozenset(raw))
        if kind == "M":
            return ("M", {k: value(x) for k, x in raw.items()})
        if kind == "L":
            return ("L", [value(x) for x in raw])
        return (kind, raw)

    return [{k: value(v) for k, v in item.items()} for item in items]


# --- decoding ----------------------------------------------------------------------------


def test_decode_line_turns_base64_into_bytes_and_keeps_numbers_as_text() -> None:
    item = decode_line(json_line(slip(SUB, 29, **ODD)), "slips.json:1")
    assert item["bin"] == {"B": b"\x00\xffkakeibo"}
    assert item["empty_bin"] == {"B": b""}
    assert sorted(item["bins"]["BS"]) == [b"\x01", b"\x02\x03"]
    assert item["nums"]["NS"].count("12345678901234567890123456789012345678") == 1
    assert item["huge"] == {"N": "9.9999999999999999999999999999999999999E+125"}
    assert item["nested"]["M"]["l"]["L"][2]["M"]["m"]["L"][1] == {"BS": [b"\x00"]}
    assert item["memo"] == {"S": "😀"}
    assert item["nothing"] == {"NULL": True}
    assert item["no"] == {"BOOL": False}


DEEP: dict[str, Any] = {"S": "x"}
for _ in range(32):
    DEEP = {"L": [DEEP]}

KEYS = {"user_id": {"S": SUB}, "sk": {"S": "2025-01-01#1"}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json\n", "not a line of DynamoDB JSON"),
        (b"\xff\xfe\n", "not a line of DynamoDB JSON"),
        (b'{"item": {}}\n', 'expected one {"Item"'),
        (b'{"Item": {}, "x": 1}\n', 'expected one {"Item"'),
        (b"[1]\n", 'expected one {"Item"'),
        ({"sk": {"S": "a"}}, "the key user_id must be a non-empty string"),
        ({"user_id": {"S": SUB}}, "the key sk must be a non-empty string"),
        ({"user_id": {"S": SUB}, "sk": {"S": ""}}, "the key sk must be a non-empty string"),
        ({"user_id": {"N": "1"}, "sk": {"S": "a"}}, "the key user_id must be a non-empty string"),
        ({"sk": {"S": "a" * 1025}, "user_id": {"S": SUB}}, "longer than 1,024 bytes"),
        ({**KEYS, "a": {"X": "1"}}, "'X' with this value is not a DynamoDB type"),
        ({**KEYS, "a": {"S": 1}}, "'S' with this value is not a DynamoDB type"),
        ({**KEYS, "a": {"S": "x", "N": "1"}}, "expected one type descriptor"),
        ({**KEYS, "a": "plain"}, "expected one type descriptor"),
        ({**KEYS, "a": {"N": "NaN"}}, "'NaN' is not a number"),
        ({**KEYS, "a": {"N": "1_000"}}, "is not a number"),
        ({**KEYS, "a": {"N": " 1"}}, "is not a number"),
        ({**KEYS, "a": {"N": "Infinity"}}, "is not a number"),
        ({**KEYS, "a": {"N": "١٢٣"}}, "is not a number"),
        ({**KEYS, "a": {"N": ""}}, "is not a number"),
        ({**KEYS, "a": {"N": "1" * 39}}, "beyond DynamoDB's number range"),
        ({**KEYS, "a": {"N": "1E+126"}}, "beyond DynamoDB's number range"),
        ({**KEYS, "a": {"N": "1E-131"}}, "beyond DynamoDB's number range"),
        ({**KEYS, "a": {"B": "not base64!"}}, "binary value is not base64"),
        ({**KEYS, "a": {"SS": []}}, "'SS' with this value is not a DynamoDB type"),
        ({**KEYS, "a": {"SS": ["x", "x"]}}, "holds the same value twice"),
        ({**KEYS, "a": {"NS": ["1", "1.0"]}}, "holds the same value twice"),
        ({**KEYS, "a": {"BS": ["AA==", "AA=="]}}, "holds the same value twice"),
        ({**KEYS, "a": {"SS": ["x", 1]}}, "holds something other than text"),
        ({**KEYS, "a": {"NULL": False}}, "'NULL' with this value is not a DynamoDB type"),
        ({**KEYS, "a": {"BOOL": "true"}}, "'BOOL' with this value is not a DynamoDB type"),
        ({**KEYS, "a": DEEP}, "nested deeper than DynamoDB's 32 levels"),
        ({**KEYS, "a": {"S": "x" * 410_000}}, "larger than DynamoDB's 400 KB"),
    ],
)
def test_decode_line_refuses_what_dynamodb_would_not_store(line: Any, message: str) -> None:
    raw = line if isinstance(line, bytes) else json.dumps({"Item": line}).encode()
    with pytest.raises(RestoreError, match="^slips.json:7: ") as exc:
        decode_line(raw, "slips.json:7")
    assert message in str(exc.value)


# --- writing -------------------------------------------------------------------------------


def put(item: dict[str, Any]) -> dict[str, Any]:
    return {"PutRequest": {"Item": item}}


def test_put_items_retries_unprocessed_items_with_growing_backoff(clients: Clients) -> None:
    dynamodb = clients.dynamodb
    items = [decode_line(json_line(slip(SUB, n)), "t") for n in range(30)]
    first, second = items[:25], items[25:]
    stubber = Stubber(dynamodb)
    # The first batch comes back twice with leftovers, the second once.
    stubber.add_response(
        "batch_write_item",
        {"UnprocessedItems": {"t": [put(i) for i in first[20:]]}},
        {"RequestItems": {"t": [put(i) for i in first]}},
    )
    stubber.add_response(
        "batch_write_item",
        {"UnprocessedItems": {"t": [put(i) for i in first[22:]]}},
        {"RequestItems": {"t": [put(i) for i in first[20:]]}},
    )
    stubber.add_response(
        "batch_write_item",
        {"UnprocessedItems": {}},
        {"RequestItems": {"t": [put(i) for i in first[22:]]}},
    )
    stubber.add_response(
        "batch_write_item",
        {"UnprocessedItems": {"t": [put(i) for i in second]}},
        {"RequestItems": {"t": [put(i) for i in second]}},
    )
    stubber.add_response("batch_write_item", {}, {"RequestItems": {"t": [put(i) for i in second]}})
    sleeps: list[float] = []
    progress: list[int] = []
    with stubber:
        written = put_items(
            dynamodb, "t", iter(items), progress=progress.append, sleep=sleeps.append
        )
    stubber.assert_no_pending_responses()
    assert written == 30
    assert progress == [20, 2, 3, 5]
    assert len(sleeps) == 3
    # Equal jitter: each wait lies in [d/2, d] with d doubling per retry of a batch.
    assert 0.025 <= sleeps[0] <= 0.05
    assert 0.05 <= sleeps[1] <= 0.1
    assert 0.025 <= sleeps[2] <= 0.05


def test_put_items_gives_up_when_dynamodb_makes_no_progress(clients: Clients) -> None:
    dynamodb = clients.dynamodb
    items = [decode_line(json_line(slip(SUB, n)), "t") for n in range(3)]
    stubber = Stubber(dynamodb)
    for _ in range(4):
        stubber.add_response(
            "batch_write_item", {"UnprocessedItems": {"t": [put(i) for i in items]}}
        )
    sleeps: list[float] = []
    with stubber, pytest.raises(WriteError, match="kept throttling writes to t after 0 items"):
        put_items(dynamodb, "t", items, sleep=sleeps.append, max_retries=3)
    stubber.assert_no_pending_responses()
    assert len(sleeps) == 3


def test_put_items_reports_a_refused_write_with_how_far_it_got(clients: Clients) -> None:
    dynamodb = clients.dynamodb
    items = [decode_line(json_line(slip(SUB, n)), "t") for n in range(30)]
    stubber = Stubber(dynamodb)
    stubber.add_response("batch_write_item", {})
    stubber.add_client_error(
        "batch_write_item", "ValidationException", "Item size has exceeded the maximum"
    )
    with stubber, pytest.raises(WriteError) as exc:
        put_items(dynamodb, "t", items, sleep=lambda _: None)
    assert str(exc.value) == (
        "DynamoDB refused a write to t after 25 items: ValidationException: Item size has "
        "exceeded the maximum. Running the restore again is safe."
    )


class Throttled:
    """A DynamoDB client that leaves the second half of every first attempt unprocessed."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if len(self.calls) % 2:
            half = len(requests) // 2
            self.real.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self.real.batch_write_item(RequestItems=RequestItems)  # type: ignore[no-any-return]


def test_put_items_retries_until_every_item_is_in_the_table(
    clients: Clients, settings: Settings
) -> None:
    rows = [slip(SUB, n) for n in range(40)]
    items = [decode_line(json_line(row), "t") for row in rows]
    throttled = Throttled(clients.dynamodb)
    written = put_items(throttled, settings.slips_table, items, sleep=lambda _: None)  # type: ignore[arg-type]
    assert written == 40
    assert throttled.calls == [25, 13, 15, 8]
    assert table_items(clients, settings.slips_table) == expected(rows)


# --- the core end to end --------------------------------------------------------------------


def test_restore_archive_writes_exactly_the_archived_items(
    good_zip: Path, clients: Clients, settings: Settings
) -> None:
    targets = {"slips": settings.slips_table, "balances": settings.balances_table}
    with open_archive(good_zip) as archive:
        done = restore_archive(
            archive, RestoreRequest(), dynamodb=clients.dynamodb, tables=targets
        ).tables
    assert {table: (r.new, r.written, r.deleted) for table, r in done.items()} == {
        "slips": (30, 30, 0),
        "balances": (3, 3, 0),
    }
    data = sample()
    assert normal(table_items(clients, settings.slips_table)) == normal(expected(data["slips"]))
    assert table_items(clients, settings.balances_table) == expected(data["balances"])


def test_plan_restore_verifies_and_counts_without_writing(
    good_zip: Path, clients: Clients, settings: Settings
) -> None:
    targets = {"slips": settings.slips_table, "balances": settings.balances_table}
    with open_archive(good_zip) as archive:
        plans = plan_restore(
            archive, RestoreRequest(only=["balances"]), dynamodb=clients.dynamodb, tables=targets
        )
    assert [(p.table, p.target, p.items) for p in plans] == [
        ("balances", settings.balances_table, 3)
    ]
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == []


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def restore(app: Flask) -> Callable[..., Any]:
    """Run ``flask restore ARGS`` on the test app; return click's result."""
    runner = app.test_cli_runner()

    def run(*args: str | Path) -> Any:
        return runner.invoke(args=["restore", *map(str, args)])

    return run


def test_restore_command_writes_both_tables_and_summarises(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    result = restore(good_zip)
    assert result.exit_code == 0, result.output
    assert f"Archive of user {SUB}, 2025-01-01 to 2025-12-31" in result.output
    assert "verified, signed." in result.output
    assert "slips: 30 in the archive: 30 new, 0 changed, 0 unchanged" in result.output
    assert f"slips: 30 written, 0 deleted, 0 unchanged in {settings.slips_table}" in result.output
    assert (
        f"balances: 3 written, 0 deleted, 0 unchanged in {settings.balances_table}" in result.output
    )
    data = sample()
    assert normal(table_items(clients, settings.slips_table)) == normal(expected(data["slips"]))
    assert table_items(clients, settings.balances_table) == expected(data["balances"])


def test_restore_command_twice_leaves_the_same_data(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    write_items(clients.dynamodb, settings.slips_table, [slip(OTHER, n) for n in range(3)])
    assert restore(good_zip).exit_code == 0
    once = table_items(clients, settings.slips_table), table_items(clients, settings.balances_table)
    # An item edited after the backup goes back to its archived state.
    clients.dynamodb.update_item(
        TableName=settings.slips_table,
        Key={"user_id": {"S": SUB}, "sk": {"S": sample()["slips"][0]["sk"]}},
        UpdateExpression="SET memo = :m",
        ExpressionAttributeValues={":m": {"S": "changed"}},
    )
    result = restore(good_zip)
    assert result.exit_code == 0, result.output
    assert "slips: 30 in the archive: 0 new, 1 changed, 29 unchanged" in result.output
    assert f"slips: 1 written, 0 deleted, 29 unchanged in {settings.slips_table}" in result.output
    assert (
        table_items(clients, settings.slips_table),
        table_items(clients, settings.balances_table),
    ) == once
    assert len(once[0]) == 33


def test_restore_command_dry_run_counts_and_writes_nothing(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    result = restore(good_zip, "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "slips: 30 in the archive: 30 new, 0 changed, 0 unchanged; "
        "0 only in the table would be kept (merge)"
    ) in result.output
    assert "balances: 3 in the archive: 3 new, 0 changed, 0 unchanged" in result.output
    assert "Dry run: nothing was written." in result.output
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == []


def _check_code(output: str) -> str:
    match = re.search(r"Check code: ([0-9]+-[0-9a-f]{20}) ", output)
    assert match, output
    return match.group(1)


@pytest.mark.parametrize("mode", [(), ("--replace",)], ids=["merge", "replace"])
def test_restore_command_writes_only_what_its_dry_run_showed(
    restore: Callable[..., Any],
    good_zip: Path,
    clients: Clients,
    settings: Settings,
    mode: tuple[str, ...],
) -> None:
    code = _check_code(restore(good_zip, "--dry-run", *mode).output)
    # A slip of the period is added after the dry run.
    write_items(clients.dynamodb, settings.slips_table, [slip(SUB, 99)])
    changed = table_items(clients, settings.slips_table)

    refused = restore(good_zip, "--check", code, *mode)
    assert refused.exit_code == 1
    assert "not what the check code was made of" in refused.output
    assert "Nothing was written" in refused.output
    assert table_items(clients, settings.slips_table) == changed

    fresh = _check_code(restore(good_zip, "--dry-run", *mode).output)
    done = restore(good_zip, "--check", fresh, *mode)
    assert done.exit_code == 0, done.output
    assert "slips: " in done.output and " written, " in done.output


def test_restore_command_refuses_an_old_or_malformed_check_code(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    code = _check_code(restore(good_zip, "--dry-run").output)
    made, digest = code.split("-")
    old = f"{int(made) - 31 * 60}-{digest}"
    for refused_code, message in [(old, "more than 30 minutes old"), ("x", "is not a check code")]:
        refused = restore(good_zip, "--check", refused_code)
        assert refused.exit_code == 1 and message in refused.output, refused.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_restores_one_table(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    result = restore(good_zip, "--table", "balances")
    assert result.exit_code == 0, result.output
    assert "slips" not in result.output.replace(f"{settings.slips_table}", "")
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == expected(sample()["balances"])


def test_restore_command_as_user_moves_the_items_to_another_user(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    result = restore(good_zip, "--as-user", NEW)
    assert result.exit_code == 0, result.output
    assert f"Items will be written as user {NEW}." in result.output
    data = sample()
    assert normal(table_items(clients, settings.slips_table)) == normal(
        expected(data["slips"], sub=NEW)
    )
    assert table_items(clients, settings.balances_table) == expected(data["balances"], sub=NEW)


@pytest.mark.parametrize("sub", ["", "a/b", " padded", "x" * 2049])
def test_restore_command_refuses_an_unusable_as_user(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings, sub: str
) -> None:
    result = restore(good_zip, "--as-user", sub)
    assert result.exit_code == 1
    assert "Error: --as-user: " in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_rejects_an_unknown_table_option(
    restore: Callable[..., Any], good_zip: Path
) -> None:
    result = restore(good_zip, "--table", "users")
    assert result.exit_code == 2
    assert "'users' is not one of 'slips', 'balances'" in result.output


# Each refusal breaks the archive in its second table (or late in a file), so a
# restore that wrote while it read would already have written the slips.
def _foreign(files: Files, manifest: Manifest) -> None:
    rows = sorted(sample()["balances"], key=lambda r: r["sk"]) + [balance(OTHER, "cash")]
    _replace(files, manifest, "balances.json", b"".join(json_line(r) for r in rows), count=4)


def _replace(
    files: Files, manifest: Manifest, name: str, body: bytes, count: int | None = None
) -> None:
    """Swap a file's content and make the manifest agree, so only the content is wrong."""
    files[name] = body
    table = name.split(".")[0]
    listed = manifest["tables"][table]["files"][name]
    listed.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    if count is not None:
        manifest["tables"][table]["item_count"] = count


def _bad_line(files: Files, manifest: Manifest) -> None:
    body = files["slips.json"] + b'{"Item": {"user_id": {"S": "x"}}\n'
    _replace(files, manifest, "slips.json", body, count=31)


def _duplicate(files: Files, manifest: Manifest) -> None:
    last = files["slips.json"].split(b"\n")[-2] + b"\n"
    _replace(files, manifest, "slips.json", files["slips.json"] + last, count=31)


def _unordered(files: Files, manifest: Manifest) -> None:
    first = files["slips.json"].split(b"\n")[0] + b"\n"
    _replace(files, manifest, "slips.json", files["slips.json"] + first, count=31)


def _tampered(files: Files, manifest: Manifest) -> None:
    files["balances.json"] = files["balances.json"].replace(b"12345", b"99999")


def _resized(files: Files, manifest: Manifest) -> None:
    files["balances.csv"] = files["balances.csv"] + b"extra\r\n"


def _miscounted(files: Files, manifest: Manifest) -> None:
    manifest["tables"]["balances"]["item_count"] = 4


def _missing_file(files: Files, manifest: Manifest) -> None:
    del files["balances.csv"]


def _no_table(files: Files, manifest: Manifest) -> None:
    del manifest["tables"]["balances"]
    del files["balances.json"], files["balances.csv"]


def _csv_only(files: Files, manifest: Manifest) -> None:
    del files["balances.json"], manifest["tables"]["balances"]["files"]["balances.json"]


def _wrong_format(files: Files, manifest: Manifest) -> None:
    manifest["format"] = "something-else"


def _newer(files: Files, manifest: Manifest) -> None:
    manifest["format_version"] = 3


def _bad_version(files: Files, manifest: Manifest) -> None:
    manifest["format_version"] = "1"


def _no_sub(files: Files, manifest: Manifest) -> None:
    del manifest["user_sub"]


def _bad_entry(files: Files, manifest: Manifest) -> None:
    manifest["tables"]["balances"]["files"]["balances.json"]["bytes"] = "3"


def _other_keys(files: Files, manifest: Manifest) -> None:
    manifest["tables"]["balances"]["key_schema"] = [{"AttributeName": "id", "KeyType": "HASH"}]


def _unknown_table(files: Files, manifest: Manifest) -> None:
    manifest["tables"]["users"] = manifest["tables"]["balances"]


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_foreign, "balances.json:4: the item belongs to another user than the archive's"),
        (_bad_line, "slips.json:31: "),
        (
            _duplicate,
            "slips.json:31: the item with sk '2025-03-28#00000000001b' appears twice",
        ),
        (
            _unordered,
            "slips.json:31: the item with sk '2025-03-01#000000000000' is out of sort-key order",
        ),
        (_tampered, "balances.json does not match its SHA-256 in the manifest"),
        (_resized, "balances.csv has 184 bytes, the manifest says 177"),
        (_miscounted, "balances.json holds 3 items, the manifest says 4"),
        (_missing_file, "balances.csv is listed in the manifest but missing from the archive"),
        (_no_table, "the archive has no balances table"),
        (_csv_only, "the archive holds balances as CSV only, which cannot be restored exactly"),
        (_wrong_format, "manifest.json is not a Kakeibo Export manifest"),
        (_newer, "the archive has format version 3; this restore reads version 1, 2"),
        (_bad_version, "manifest.json is malformed: format_version is missing or invalid"),
        (_no_sub, "manifest.json is malformed: user_sub is missing or invalid"),
        (_bad_entry, "manifest.json is malformed: tables.balances.files.balances.json"),
        (_other_keys, "manifest.json: the key schema of balances is not Kakeibo's"),
        (_unknown_table, "manifest.json lists an unknown table 'users'"),
    ],
)
def test_restore_command_refuses_a_bad_archive_and_writes_nothing(
    restore: Callable[..., Any],
    tmp_path: Path,
    clients: Clients,
    settings: Settings,
    breakage: Callable[[Files, Manifest], None],
    message: str,
) -> None:
    files, manifest = archive_parts(sample())
    breakage(files, manifest)
    path = write_zip(tmp_path / "bad.zip", files, manifest)
    result = restore(path)
    assert result.exit_code == 1, result.output
    assert f"Error: {message}" in result.output
    assert result.output.rstrip().endswith("Nothing was written.")
    assert "Traceback" not in result.output
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == []


def test_restore_command_refuses_a_foreign_item_even_as_another_user(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    _foreign(files, manifest)
    result = restore(write_zip(tmp_path / "bad.zip", files, manifest), "--as-user", NEW)
    assert result.exit_code == 1
    assert "belongs to another user" in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_allows_a_csv_only_table_it_was_not_asked_for(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    _csv_only(files, manifest)
    result = restore(write_zip(tmp_path / "half.zip", files, manifest), "--table", "slips")
    assert result.exit_code == 0, result.output
    assert len(table_items(clients, settings.slips_table)) == 30


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 this is not really a zip"), "is not a zip archive"),
        (lambda p: p.write_bytes(b""), "is not a zip archive"),
        (
            lambda p: p.write_bytes(write_zip(p, *archive_parts(sample())).read_bytes()[:-200]),
            "is not a zip archive",
        ),
        (lambda p: write_zip(p, {}, None), "the zip has no manifest.json"),
        (lambda p: write_zip(p, {}, b"{not json"), "manifest.json is not valid JSON"),
        (lambda p: write_zip(p, {}, b"[]"), "manifest.json is not a Kakeibo Export manifest"),
    ],
)
def test_restore_command_refuses_what_is_not_an_archive(
    restore: Callable[..., Any],
    tmp_path: Path,
    clients: Clients,
    settings: Settings,
    make: Callable[[Path], Any],
    message: str,
) -> None:
    path = tmp_path / "broken.zip"
    make(path)
    result = restore(path)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_refuses_corrupt_compressed_data(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    path = write_zip(tmp_path / "flipped.zip", files, manifest)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("balances.json")
    # Flip a byte inside balances.json's compressed data (after its local header).
    at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    result = restore(path)
    assert result.exit_code == 1, result.output
    assert "balances.json is damaged" in result.output
    assert "Nothing was written." in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_refuses_a_compression_method_zipfile_lacks(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    path = write_zip(tmp_path / "deflate64.zip", files, manifest)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("balances.json")
    # Mark the member as Deflate64 (method 9, as Windows writes large files) in
    # its local header and in the central directory.
    raw[info.header_offset + 8 : info.header_offset + 10] = (9).to_bytes(2, "little")
    central = re.search(
        rb"PK\x01\x02.{42}" + re.escape(info.filename.encode()), bytes(raw), re.DOTALL
    )
    assert central is not None
    raw[central.start() + 10 : central.start() + 12] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    result = restore(path)
    assert result.exit_code == 1, result.output
    assert "balances.json is compressed in a way that cannot be read here" in result.output
    assert "Traceback" not in result.output
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == []


def test_restore_command_refuses_a_missing_dynamodb_table(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    clients.dynamodb.delete_table(TableName=settings.balances_table)
    result = restore(good_zip)
    assert result.exit_code == 1
    assert (
        f"Error: the DynamoDB table {settings.balances_table} (balances) does not exist"
        in result.output
    )
    assert "Nothing was written." in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_reports_a_write_failure_part_way(
    restore: Callable[..., Any], app: Flask, good_zip: Path, settings: Settings
) -> None:
    dynamodb = app.extensions["kakeibo.services"].clients.dynamodb
    described = {"Table": {"KeySchema": KEY_SCHEMA}}
    stubber = Stubber(dynamodb)
    stubber.add_response("describe_table", described, {"TableName": settings.slips_table})
    stubber.add_response("describe_table", described, {"TableName": settings.balances_table})
    # The slips table is empty: the preview's Query, then the write's own.
    stubber.add_response("query", {"Items": []})
    stubber.add_response("query", {"Items": []})
    stubber.add_response("batch_write_item", {})
    stubber.add_client_error("batch_write_item", "InternalServerError", "Internal server error")
    with stubber:
        result = restore(good_zip)
    stubber.assert_no_pending_responses()
    assert result.exit_code == 1
    assert (
        f"Error: DynamoDB refused a write to {settings.slips_table} after 25 items: "
        "InternalServerError: Internal server error. Running the restore again is safe."
    ) in result.output
    assert "Nothing was written" not in result.output
    assert "Traceback" not in result.output


def test_restore_command_refuses_a_missing_file_argument(
    restore: Callable[..., Any], tmp_path: Path
) -> None:
    result = restore(tmp_path / "nope.zip")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_flask_cli_restores_with_the_settings_from_the_environment(
    good_zip: Path, clients: Clients, settings: Settings
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": settings.region,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "EXPORT_BUCKET": settings.export_bucket,
        "SLIPS_TABLE": settings.slips_table,
        "BALANCES_TABLE": settings.balances_table,
        "COGNITO_USER_POOL_ID": settings.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": settings.cognito_client_id,
        "APP_TABLE": settings.app_table,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "SECRET_KEY": "not-used-by-the-command",
        "ARCHIVE_KEY": ARCHIVE_KEY,
    }
    command = [sys.executable, "-m", "flask", "--app", "webapp", "restore", str(good_zip)]
    result = subprocess.run(
        command, env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"balances: 3 written, 0 deleted, 0 unchanged in {settings.balances_table}" in (
        result.stdout
    )
    assert table_items(clients, settings.balances_table) == expected(sample()["balances"])


# --- signatures, hostile zips, replace ------------------------------------------------------


def test_restore_command_refuses_an_unsigned_or_foreign_signed_archive(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    unsigned = write_zip(tmp_path / "unsigned.zip", files, manifest, key=None)
    other = SigningKey(kid="static", secret=b"another-installation-key-0123456789")
    foreign = write_zip(tmp_path / "foreign.zip", files, manifest, key=other)
    for path, message in (
        (unsigned, "Error: the archive is not signed"),
        (foreign, "Error: the archive's signature does not match"),
    ):
        result = restore(path)
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "--as-user SUB" in result.output
        assert result.output.rstrip().endswith("Nothing was written.")
    assert table_items(clients, settings.slips_table) == []
    # On the operator's word (--as-user), an unsigned archive still restores.
    result = restore(unsigned, "--as-user", SUB)
    assert result.exit_code == 0, result.output
    assert "(NOT signed by this installation)" in result.output
    assert len(table_items(clients, settings.slips_table)) == 30


def test_restore_command_refuses_a_manifest_changed_after_signing(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    signed = json.dumps(manifest).encode()
    manifest["user_sub"] = OTHER
    path = tmp_path / "edited.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
        zf.writestr(MANIFEST_NAME, json.dumps(manifest))
        zf.writestr(SIGNATURE_NAME, sign(signed, KEY))
    result = restore(path)
    assert result.exit_code == 1
    assert "signature does not match" in result.output
    assert table_items(clients, settings.slips_table) == []


README = b"Kakeibo Export archive\n"


def _version_2(manifest: Manifest) -> Manifest:
    """Make ``manifest`` a version 2 one: README.txt listed like every other file."""
    manifest["format_version"] = 2
    manifest["files"] = {
        README_NAME: {
            "format": "text",
            "bytes": len(README),
            "sha256": hashlib.sha256(README).hexdigest(),
        }
    }
    return manifest


def test_every_file_of_an_archive_is_covered_by_its_signature(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    manifest = _version_2(manifest)
    intact = write_zip(tmp_path / "intact.zip", files, manifest, readme=README)
    assert restore(intact, "--dry-run").exit_code == 0

    edited = write_zip(tmp_path / "edited.zip", files, manifest, readme=README + b"Run me!\n")
    result = restore(edited)
    assert result.exit_code == 1
    assert "README.txt has 31 bytes, the manifest says 23" in result.output
    assert "Nothing was written" in result.output
    assert table_items(clients, settings.slips_table) == []


@pytest.mark.parametrize("version", [1, 2])
def test_an_archive_holding_a_file_its_manifest_does_not_list_is_refused(
    version: int,
    restore: Callable[..., Any],
    tmp_path: Path,
    clients: Clients,
    settings: Settings,
) -> None:
    files, manifest = archive_parts(sample())
    if version == 2:
        manifest = _version_2(manifest)
    files["notes.txt"] = b"=HYPERLINK(...)\n"
    result = restore(write_zip(tmp_path / "extra.zip", files, manifest, readme=README))
    assert result.exit_code == 1
    assert "the archive holds notes.txt, which its manifest does not list" in result.output
    assert table_items(clients, settings.slips_table) == []


def test_restore_command_refuses_json_nested_past_pythons_recursion_limit(
    restore: Callable[..., Any], tmp_path: Path, clients: Clients, settings: Settings
) -> None:
    files, manifest = archive_parts(sample())
    deep = b'{"Item": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}\n"
    files["slips.json"] = files["slips.json"] + deep
    listed = manifest["tables"]["slips"]["files"]["slips.json"]
    listed.update(
        bytes=len(files["slips.json"]), sha256=hashlib.sha256(files["slips.json"]).hexdigest()
    )
    # Stored, not deflated: brackets compress so well they would look like a zip bomb.
    path = write_zip(tmp_path / "deep.zip", files, manifest, compression=zipfile.ZIP_STORED)

    result = restore(path)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert "Error: slips.json:31: not a line of DynamoDB JSON" in result.output
    assert result.output.rstrip().endswith("Nothing was written.")
    assert table_items(clients, settings.slips_table) == []
    assert table_items(clients, settings.balances_table) == []


def _bomb(path: Path, megabytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("slips.json", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(megabytes):
                fh.write(chunk)
        zf.writestr(MANIFEST_NAME, b"{}")
    return path


def test_a_zip_bomb_is_refused_from_its_directory_without_inflating(tmp_path: Path) -> None:
    import tracemalloc

    path = _bomb(tmp_path / "bomb.zip", 200)
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(RestoreError) as refused:
            open_archive(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "slips.json would inflate" in str(refused.value)
    assert "looks like a zip bomb" in str(refused.value)
    # Inflating would have taken 200 MB; reading the directory takes next to nothing.
    assert peak < 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([f"f{n}.txt" for n in range(40)], "holds 41 files; an archive holds at most 32"),
        (["../escape.json"], "holds a file named '../escape.json', which no archive of ours has"),
        (["/etc/passwd"], "holds a file named '/etc/passwd'"),
        (["dir/slips.json"], "holds a file named 'dir/slips.json'"),
    ],
)
def test_a_zip_that_no_export_could_have_made_is_refused(
    tmp_path: Path, names: list[str], message: str
) -> None:
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
        zf.writestr(MANIFEST_NAME, b"{}")
    with pytest.raises(RestoreError, match=re.escape(message)):
        open_archive(path)


def test_restore_command_replace_makes_the_period_exactly_the_archive(
    restore: Callable[..., Any], good_zip: Path, clients: Clients, settings: Settings
) -> None:
    data = sample()
    # Since the backup: one slip edited, one deleted, one added in the period, one after it,
    # and another user's slip.
    edited = {**data["slips"][3], "memo": "edited"}
    added = slip(SUB, 100)
    later = {**slip(SUB, 101), "sk": "2026-01-05#x", "date": "2026-01-05"}
    write_items(
        clients.dynamodb,
        settings.slips_table,
        [
            s
            for s in data["slips"]
            if s["sk"] not in (data["slips"][3]["sk"], data["slips"][7]["sk"])
        ]
        + [edited, added, later, slip(OTHER, 1)],
    )

    dry = restore(good_zip, "--replace", "--dry-run", "--table", "slips")
    assert dry.exit_code == 0, dry.output
    assert (
        "slips: 30 in the archive: 1 new, 1 changed, 28 unchanged; "
        "1 only in the table would be deleted (replace)"
    ) in dry.output
    assert len(table_items(clients, settings.slips_table)) == 32

    result = restore(good_zip, "--replace", "--table", "slips")
    assert result.exit_code == 0, result.output
    assert f"slips: 2 written, 1 deleted, 28 unchanged in {settings.slips_table}" in result.output
    rows = table_items(clients, settings.slips_table)
    mine = [r for r in rows if r["user_id"]["S"] == SUB and r["sk"]["S"] < "2026"]
    assert normal(mine) == normal(expected(data["slips"]))
    assert {r["sk"]["S"] for r in rows} >= {"2026-01-05#x", slip(OTHER, 1)["sk"]}
    assert len(rows) == 32

"""The export engine on moto: what an archive holds, and that a failure leaves nothing."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import threading
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from support import Spy, leftovers, require_tool, run_export

from webapp.archive.dates import DateRange, check_range
from webapp.archive.errors import ExportError, InvalidRange
from webapp.archive.export import ExportResult
from webapp.archive.ids import ArchiveId, parse_key, user_prefix
from webapp.archive.upload import MIN_PART_SIZE
from webapp.aws import Clients
from webapp.model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, SPECS
from webapp.settings import Settings

NOW = datetime(2026, 11, 25, 19, 34, 42, tzinfo=UTC)
YEAR = DateRange(date(2025, 1, 1), date(2025, 12, 31))
ALICE = "7a1c0e52-0000-4000-8000-00000000a11c"
BOB = "7a1c0e52-0000-4000-8000-000000000b0b"
BIG_ITEMS = 40
BIG_VALUE = 300_000  # random bytes per item: DynamoDB items stop at 400 KB

# --- helpers ------------------------------------------------------------------


def typed_slip(sub: str, sk: str, **attributes: Any) -> dict[str, Any]:
    """Return a slip as typed attribute values; keyword arguments add or replace."""
    day = sk[:10]
    item: dict[str, Any] = {
        "user_id": {"S": sub},
        "sk": {"S": sk},
        "date": {"S": day},
        "kind": {"S": "expense"},
        "category": {"S": "食費"},
        "account": {"S": "cash"},
        "amount": {"N": "-1200"},
        "memo": {"S": "イオン"},
        "created_at": {"S": f"{day}T12:00:00+09:00"},
    }
    item.update(attributes)
    return item


def typed_balance(sub: str, day: str, account: str, balance: str) -> dict[str, Any]:
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"{day}#{account}"},
        "date": {"S": day},
        "account": {"S": account},
        "balance": {"N": balance},
    }


def put(clients: Clients, table: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        clients.dynamodb.put_item(TableName=table, Item=item)


def export(clients: Clients, settings: Settings, sub: str = ALICE, **options: Any) -> ExportResult:
    arguments: dict[str, Any] = {
        "dynamodb": clients.dynamodb,
        "s3": clients.s3,
        "bucket": settings.export_bucket,
        "tables": {"slips": settings.slips_table, "balances": settings.balances_table},
        "sub": sub,
        "date_range": YEAR,
        "now": NOW,
    }
    arguments.update(options)
    return run_export(**arguments)


def fetch(clients: Clients, settings: Settings, key: str) -> zipfile.ZipFile:
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def csv_rows(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    text = archive.read(name).decode("utf-8-sig")
    limit = csv.field_size_limit(1 << 24)  # the big test's cells pass the 128 KiB default
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    finally:
        csv.field_size_limit(limit)


def json_items(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    text = archive.read(name).decode("utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def from_file(typed: dict[str, Any]) -> dict[str, Any]:
    """Return a plain item from one DynamoDB JSON file item (binary is base64 there)."""

    def decoded(value: dict[str, Any]) -> dict[str, Any]:
        ((kind, inner),) = value.items()
        if kind == "B":
            return {"B": base64.b64decode(inner)}
        if kind == "BS":
            return {"BS": [base64.b64decode(b) for b in inner]}
        if kind == "L":
            return {"L": [decoded(v) for v in inner]}
        if kind == "M":
            return {"M": {k: decoded(v) for k, v in inner.items()}}
        return value

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(decoded(v)) for k, v in typed.items()}


def plain(typed: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in typed.items()}


# --- fixtures -----------------------------------------------------------------

EVERY_TYPE = typed_slip(
    ALICE,
    "2025-06-15#every-type",
    amount={"N": "-123456789012345678901234567890.12345678"},
    memo={"S": 'ランチ, "同僚"と\n=SUM(A1:A3)'},
    receipt={"B": bytes(range(256))},
    tags={"SS": ["家計", "a,b", "😀"]},
    ratios={"NS": ["0.5", "-3", "12345678901234567890123456789012345678"]},
    blobs={"BS": [b"\x00", b"\xff\xfe"]},
    detail={
        "M": {
            "shop": {"S": "イオン"},
            "lines": {"L": [{"N": "1"}, {"S": "卵"}, {"NULL": True}, {"BOOL": False}]},
            "nested": {"M": {"deep": {"L": [{"M": {}}, {"L": []}]}}},
        }
    },
    void={"NULL": True},
    paid={"BOOL": True},
    empty={"S": ""},
)


@pytest.fixture
def seeded(clients: Clients, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Write slips and balances for Alice and Bob, some just outside 2025; return Alice's 2025."""
    alice_slips = [
        typed_slip(ALICE, "2025-01-01"),  # a sort key that is just the date
        typed_slip(ALICE, "2025-01-01#a", memo={"S": "-5%割引"}),
        typed_slip(ALICE, "2025-03-10#b", kind={"S": "income"}, amount={"N": "285000"}),
        typed_slip(ALICE, "2025-03-10#c", memo={"S": "+ポイント払い"}),
        typed_slip(ALICE, "2025-04-01#d", memo={"S": "@キャンペーン"}),
        EVERY_TYPE,
        typed_slip(ALICE, "2025-12-31#zzzz", memo={"S": "大晦日"}),
    ]
    outside = [
        typed_slip(ALICE, "2024-12-31#z", memo={"S": "outside before"}),
        typed_slip(ALICE, "2026-01-01#a", memo={"S": "outside after"}),
    ]
    bob = [typed_slip(BOB, f"2025-03-10#{n}", memo={"S": f"bob secret {n}"}) for n in range(3)]
    alice_balances = [
        typed_balance(ALICE, "2025-01-31", account, value)
        for account, value in (("bank", "1250000"), ("card", "-35000"), ("cash", "42000"))
    ]
    put(clients, settings.slips_table, alice_slips + outside + bob)
    put(clients, settings.balances_table, alice_balances)
    put(clients, settings.balances_table, [typed_balance(BOB, "2025-01-31", "bank", "1")])
    return {"slips": alice_slips, "balances": alice_balances}


@pytest.fixture
def big(clients: Clients, settings: Settings) -> list[dict[str, Any]]:
    """Write slips with incompressible binary: both files pass two 5 MiB parts."""
    items = [
        typed_slip(ALICE, f"2025-05-{1 + n % 28:02d}#{n:04d}", receipt={"B": os.urandom(BIG_VALUE)})
        for n in range(BIG_ITEMS)
    ]
    put(clients, settings.slips_table, items)
    return sorted(items, key=lambda item: item["sk"]["S"])


# --- the range ----------------------------------------------------------------


def test_check_range_counts_both_ends() -> None:
    assert check_range(date(2025, 1, 1), date(2025, 12, 31), max_span_days=1827) == YEAR
    assert check_range(date(2024, 2, 29), date(2024, 2, 29), max_span_days=1).days == 1


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2025, 12, 31), date(2025, 1, 1), "on or after the first day"),
        (date(2020, 1, 1), date(2025, 1, 1), "at most 1,827 days; this range has 1,828"),
    ],
)
def test_check_range_refuses_bad_ranges_with_a_clear_message(
    start: date, end: date, message: str
) -> None:
    with pytest.raises(InvalidRange, match=message):
        check_range(start, end, max_span_days=1827)


def test_the_longest_range_is_the_maximum_number_of_days_inclusive() -> None:
    assert check_range(date(2021, 1, 1), date(2025, 12, 31), max_span_days=1826).days == 1826
    with pytest.raises(InvalidRange):
        check_range(date(2021, 1, 1), date(2026, 1, 1), max_span_days=1826)


def test_a_reversed_date_range_cannot_be_built() -> None:
    with pytest.raises(InvalidRange):
        DateRange(date(2025, 2, 1), date(2025, 1, 1))


# --- what an archive holds ----------------------------------------------------


def test_archive_holds_the_files_in_order_under_the_users_prefix(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    result = export(clients, settings)
    assert result.counts == {"slips": 7, "balances": 3}
    assert result.key.startswith(user_prefix(ALICE))
    assert parse_key(result.key, ALICE) == result.archive_id
    assert result.archive_id.created == NOW
    assert (result.archive_id.start, result.archive_id.end) == (YEAR.start, YEAR.end)
    head = clients.s3.head_object(Bucket=settings.export_bucket, Key=result.key)
    assert head["ContentLength"] == result.size
    assert head["ContentType"] == "application/zip"
    archive = fetch(clients, settings, result.key)
    assert archive.testzip() is None
    assert archive.namelist() == [
        "slips.csv",
        "slips.json",
        "balances.csv",
        "balances.json",
        "README.txt",
        "manifest.json",
    ]
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    readme = archive.read("README.txt").decode("utf-8")
    assert "2025-01-01" in readme and "Import from S3" in readme and "復元" in readme


def test_csv_opens_with_japanese_quotes_newlines_guarded_formulas_and_numbers(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    archive = fetch(clients, settings, export(clients, settings).key)
    raw = archive.read("slips.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    header, *rows = csv_rows(archive, "slips.csv")
    # Every record ends in CRLF; the one bare LF is inside a memo, quoted.
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == 1 + len(rows)
    assert raw.count(b"\n") == raw.count(b"\r\n") + 1
    assert header == [*SPECS["slips"].columns, "other"]
    column = {name: i for i, name in enumerate(header)}
    assert [row[column["sk"]] for row in rows] == [item["sk"]["S"] for item in seeded["slips"]]
    memos = [row[column["memo"]] for row in rows]
    assert "'-5%割引" in memos and "'+ポイント払い" in memos and "'@キャンペーン" in memos
    assert 'ランチ, "同僚"と\n=SUM(A1:A3)' in memos  # only a leading = is a formula
    amounts = [row[column["amount"]] for row in rows]
    assert amounts[1] == "-1200" and amounts[2] == "285000"
    assert Decimal(amounts[5]) == Decimal("-123456789012345678901234567890.12345678")
    other = json.loads(rows[5][column["other"]])
    assert set(other["tags"]["SS"]) == {"家計", "a,b", "😀"}
    assert base64.b64decode(other["receipt"]["B"]) == bytes(range(256))
    assert rows[0][column["other"]] == ""
    balances = csv_rows(archive, "balances.csv")
    assert balances[0] == [*SPECS["balances"].columns, "other"]
    assert [row[4] for row in balances[1:]] == ["1250000", "-35000", "42000"]


def test_json_lines_parse_back_to_exactly_the_items_queried(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    archive = fetch(clients, settings, export(clients, settings).key)
    for table in ("slips", "balances"):
        lines = json_items(archive, f"{table}.json")
        assert all(set(line) == {"Item"} for line in lines)
        assert [from_file(line["Item"]) for line in lines] == [
            plain(item) for item in seeded[table]
        ]
    every = json_items(archive, "slips.json")[5]["Item"]
    assert every["amount"] == {"N": "-123456789012345678901234567890.12345678"}
    assert "12345678901234567890123456789012345678" in every["ratios"]["NS"]
    restored = from_file(every)
    assert restored["amount"] == Decimal("-123456789012345678901234567890.12345678")
    assert restored["void"] is None and restored["paid"] is True and restored["empty"] == ""
    assert restored["detail"]["lines"] == [Decimal(1), "卵", None, False]
    raw = archive.read("slips.json")
    assert b"\r" not in raw and "イオン".encode() in raw


def test_manifest_counts_and_checksums_match_the_files(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    result = export(clients, settings)
    archive = fetch(clients, settings, result.key)
    manifest = json.loads(archive.read("manifest.json"))
    assert {k: manifest[k] for k in ("format", "format_version", "created_at", "user_sub")} == {
        "format": "kakeibo-export",
        "format_version": 2,
        "created_at": "2026-11-25T19:34:42Z",
        "user_sub": ALICE,
    }
    assert manifest["range"] == {"start": "2025-01-01", "end": "2025-12-31"}
    assert list(manifest["tables"]) == ["slips", "balances"]
    for table, entry in manifest["tables"].items():
        assert entry["table_name"] == getattr(settings, f"{table}_table")
        assert entry["key_schema"] == KEY_SCHEMA
        assert entry["attribute_definitions"] == ATTRIBUTE_DEFINITIONS
        assert entry["item_count"] == result.counts[table] == len(seeded[table])
        assert entry["item_count"] == len(json_items(archive, f"{table}.json"))
        assert entry["item_count"] == len(csv_rows(archive, f"{table}.csv")) - 1
        assert list(entry["files"]) == [f"{table}.csv", f"{table}.json"]
        for name, described in entry["files"].items():
            data = archive.read(name)
            assert described == {
                "format": "csv" if name.endswith(".csv") else "dynamodb-json",
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }


def test_only_the_chosen_formats_are_written(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    archive = fetch(clients, settings, export(clients, settings, formats={"csv"}).key)
    assert archive.namelist() == ["slips.csv", "balances.csv", "README.txt", "manifest.json"]
    manifest = json.loads(archive.read("manifest.json"))
    assert list(manifest["tables"]["slips"]["files"]) == ["slips.csv"]
    assert "no .json" in archive.read("README.txt").decode()
    archive = fetch(clients, settings, export(clients, settings, formats={"json"}).key)
    assert archive.namelist() == ["slips.json", "balances.json", "README.txt", "manifest.json"]


@pytest.mark.parametrize("formats", [frozenset(), frozenset({"pdf"}), frozenset({"csv", "pdf"})])
def test_unknown_or_no_formats_are_refused_before_anything_is_written(
    clients: Clients, settings: Settings, formats: frozenset[str]
) -> None:
    spy = Spy(clients.dynamodb)
    with pytest.raises(ExportError, match="Choose CSV"):
        export(clients, settings, formats=formats, dynamodb=spy)
    assert spy.calls == []
    assert leftovers(clients, settings) == ([], [])


def test_an_empty_range_is_a_valid_archive_with_headers_and_zero_counts(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    s3 = Spy(clients.s3)
    result = export(
        clients, settings, s3=s3, date_range=DateRange(date(2030, 1, 1), date(2030, 1, 1))
    )
    assert result.counts == {"slips": 0, "balances": 0}
    assert s3.names() == ["put_object"]  # smaller than a part: one PutObject
    archive = fetch(clients, settings, result.key)
    assert archive.testzip() is None
    assert csv_rows(archive, "slips.csv") == [[*SPECS["slips"].columns, "other"]]
    assert archive.read("slips.json") == b""
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tables"]["balances"]["item_count"] == 0
    assert manifest["tables"]["balances"]["files"]["balances.json"] == {
        "format": "dynamodb-json",
        "bytes": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
    }


def test_unzip_accepts_the_archive(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]], tmp_path: Any
) -> None:
    unzip = require_tool("unzip")
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=export(clients, settings).key)[
        "Body"
    ].read()
    path = tmp_path / "archive.zip"
    path.write_bytes(body)
    answer = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "No errors detected" in answer.stdout


# --- how it reads -------------------------------------------------------------


def test_each_table_is_one_consistent_query_followed_page_by_page(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    spy = Spy(clients.dynamodb)
    result = export(clients, settings, dynamodb=spy, page_limit=2)
    assert set(spy.names()) == {"query"}  # never a Scan
    slips = [kwargs for _, kwargs in spy.calls if kwargs["TableName"] == settings.slips_table]
    assert len(slips) == 4  # 7 items, 2 a page
    for kwargs in slips:
        assert kwargs["ConsistentRead"] is True and kwargs["Limit"] == 2
        assert kwargs["KeyConditionExpression"] == "#pk = :sub AND #sk BETWEEN :start AND :end"
        assert kwargs["ExpressionAttributeValues"] == {
            ":sub": {"S": ALICE},
            ":start": {"S": "2025-01-01"},
            ":end": {"S": "2025-12-31~"},
        }
    assert "ExclusiveStartKey" not in slips[0]
    assert all("ExclusiveStartKey" in kwargs for kwargs in slips[1:])
    archive = fetch(clients, settings, result.key)
    sks = [line["Item"]["sk"]["S"] for line in json_items(archive, "slips.json")]
    assert sks == [item["sk"]["S"] for item in seeded["slips"]]


def test_another_users_items_never_appear(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    archive = fetch(clients, settings, export(clients, settings).key)
    for name in archive.namelist():
        data = archive.read(name)
        assert BOB.encode() not in data and b"bob secret" not in data
    bob = fetch(clients, settings, export(clients, settings, sub=BOB).key)
    users = {line["Item"]["user_id"]["S"] for line in json_items(bob, "slips.json")}
    assert users == {BOB}
    assert json.loads(bob.read("manifest.json"))["tables"]["slips"]["item_count"] == 3


def test_concurrent_exports_make_distinct_complete_archives(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    start = threading.Barrier(4)
    results: list[ExportResult] = []

    def run() -> None:
        start.wait()
        results.append(export(clients, settings))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result.key for result in results}) == 4
    keys, uploads = leftovers(clients, settings)
    assert sorted(keys) == sorted(result.key for result in results) and uploads == []
    digests = set()
    for result in results:
        archive = fetch(clients, settings, result.key)
        assert archive.testzip() is None
        digests.add(hashlib.sha256(archive.read("slips.json")).hexdigest())
    assert len(digests) == 1


# --- streaming through multipart uploads --------------------------------------


def test_a_large_export_streams_through_multipart_parts_and_reads_back_whole(
    clients: Clients, settings: Settings, big: list[dict[str, Any]]
) -> None:
    s3 = Spy(clients.s3)
    result = export(clients, settings, s3=s3, part_size=MIN_PART_SIZE)
    parts = [kwargs for name, kwargs in s3.calls if name == "upload_part"]
    numbers = [kwargs["PartNumber"] for kwargs in parts]
    # Both files of the table grow at once: the JSON one goes up in a band of
    # part numbers above the CSV one's.
    assert any(number > 1000 for number in numbers)
    completed = next(kwargs for name, kwargs in s3.calls if name == "complete_multipart_upload")
    listed = [part["PartNumber"] for part in completed["MultipartUpload"]["Parts"]]
    assert listed == sorted(numbers)
    sizes = dict(zip(numbers, (kwargs["ContentLength"] for kwargs in parts), strict=True))
    assert all(sizes[n] >= MIN_PART_SIZE for n in listed[:-1])
    assert sum(sizes.values()) == result.size
    archive = fetch(clients, settings, result.key)
    assert archive.testzip() is None
    lines = json_items(archive, "slips.json")
    assert [from_file(line["Item"]) for line in lines] == [plain(item) for item in big]
    receipts = [row[-1] for row in csv_rows(archive, "slips.csv")[1:]]
    assert [base64.b64decode(json.loads(r)["receipt"]["B"]) for r in receipts] == [
        item["receipt"]["B"] for item in big
    ]
    assert leftovers(clients, settings) == ([result.key], [])


@pytest.mark.parametrize(
    "fail",
    [
        {"create_multipart_upload": 1},
        {"upload_part": 2},
        {"complete_multipart_upload": 1},
    ],
    ids=["create", "middle-part", "complete"],
)
def test_an_s3_failure_leaves_no_object_and_no_open_upload(
    clients: Clients, settings: Settings, big: list[dict[str, Any]], fail: dict[str, int]
) -> None:
    s3 = Spy(clients.s3, fail=fail)
    with pytest.raises(ExportError) as caught:
        export(clients, settings, s3=s3, part_size=MIN_PART_SIZE)
    assert "injected" not in str(caught.value) and "could not be stored" in str(caught.value)
    if "create_multipart_upload" not in fail:
        assert "abort_multipart_upload" in s3.names()
    assert leftovers(clients, settings) == ([], [])


def test_a_query_failure_midway_aborts_the_parts_already_sent(
    clients: Clients, settings: Settings, big: list[dict[str, Any]]
) -> None:
    s3 = Spy(clients.s3)
    dynamodb = Spy(clients.dynamodb, fail={"query": 12})
    with pytest.raises(ExportError, match="could not be read") as caught:
        export(clients, settings, s3=s3, dynamodb=dynamodb, part_size=MIN_PART_SIZE)
    assert "injected" not in str(caught.value)
    assert "upload_part" in s3.names() and s3.names()[-1] == "abort_multipart_upload"
    assert leftovers(clients, settings) == ([], [])


class BadPage:
    """Forward Query, but slip an item that cannot be encoded into the n-th page."""

    def __init__(self, client: Any, page: int) -> None:
        self._client = client
        self._page = page
        self._count = 0

    def query(self, **kwargs: Any) -> Any:
        answer = self._client.query(**kwargs)
        self._count += 1
        if self._count == self._page:
            # A lone surrogate has no UTF-8 form; DynamoDB never returns one.
            answer["Items"].append(typed_slip(ALICE, "2025-05-30#bad", memo={"S": "\ud800"}))
        return answer


def test_an_encoding_failure_midway_aborts_the_parts_already_sent(
    clients: Clients, settings: Settings, big: list[dict[str, Any]]
) -> None:
    s3 = Spy(clients.s3)
    with pytest.raises(ExportError, match="export failed"):
        export(
            clients,
            settings,
            s3=s3,
            dynamodb=BadPage(clients.dynamodb, 12),
            part_size=MIN_PART_SIZE,
        )
    assert "upload_part" in s3.names() and s3.names()[-1] == "abort_multipart_upload"
    assert leftovers(clients, settings) == ([], [])


def test_a_failed_put_or_first_query_of_a_small_archive_leaves_nothing(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    with pytest.raises(ExportError):
        export(clients, settings, s3=Spy(clients.s3, fail={"put_object": 1}))
    with pytest.raises(ExportError):
        export(clients, settings, dynamodb=Spy(clients.dynamodb, fail={"query": 1}))
    assert leftovers(clients, settings) == ([], [])


def test_throttling_that_outlasts_botocores_retries_says_the_service_is_busy(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    code = "ProvisionedThroughputExceededException"
    dynamodb = Spy(clients.dynamodb, fail={"query": 1}, code=code)
    with pytest.raises(ExportError, match="busy"):
        export(clients, settings, dynamodb=dynamodb)
    assert leftovers(clients, settings) == ([], [])


def test_a_failed_abort_still_lists_nothing(
    clients: Clients, settings: Settings, big: list[dict[str, Any]]
) -> None:
    s3 = Spy(clients.s3, fail={"upload_part": 2, "abort_multipart_upload": 1})
    with pytest.raises(ExportError):
        export(clients, settings, s3=s3, part_size=MIN_PART_SIZE)
    keys, uploads = leftovers(clients, settings)
    # The bucket's lifecycle rule drops the stale upload after a day.
    assert keys == [] and len(uploads) == 1


def test_without_now_the_archive_is_stamped_with_the_current_utc_time(
    clients: Clients, settings: Settings, seeded: dict[str, list[dict[str, Any]]]
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = export(clients, settings, now=None)
    assert before <= result.archive_id.created <= datetime.now(UTC)
    assert ArchiveId.parse(str(result.archive_id)) == result.archive_id


def test_a_sub_that_is_not_one_path_segment_is_refused_before_any_work(
    clients: Clients, settings: Settings
) -> None:
    spy = Spy(clients.dynamodb)
    with pytest.raises(ValueError):
        export(clients, settings, sub="a/b", dynamodb=spy)
    assert spy.calls == []
    assert leftovers(clients, settings) == ([], [])

"""Export filters on moto: exactly the matching items, by one Query per table, and recorded."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from support import run_export

from webapp.archive.dates import DateRange
from webapp.archive.errors import RestoreError
from webapp.archive.filters import MAX_VALUES, FilterError, Filters
from webapp.archive.manifest import ManifestError, parse_manifest
from webapp.archive.reader import open_archive
from webapp.archive.restore import RestoreRequest, restore_archive
from webapp.aws import Clients
from webapp.jobs.vocabulary import VocabularyStore
from webapp.settings import Settings

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
YEAR = DateRange(date(2025, 1, 1), date(2025, 12, 31))
ACCOUNTS = ("cash", "card", "銀行")
CATEGORIES = ("食費", "日用品", "給与", "交通費")
KINDS = ("expense", "income", "transfer")


def _slip(sub: str, n: int, account: str, category: str, kind: str) -> dict[str, Any]:
    day = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}"
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"{day}#{n:05d}"},
        "date": {"S": day},
        "kind": {"S": kind},
        "category": {"S": category},
        "account": {"S": account},
        "amount": {"N": str(-100 - n)},
    }


def _balance(sub: str, n: int, account: str) -> dict[str, Any]:
    day = f"2025-{1 + n % 12:02d}-28"
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"{day}#{account}#{n}"},
        "date": {"S": day},
        "account": {"S": account},
        "balance": {"N": str(1000 * n)},
    }


def _tables(settings: Settings) -> dict[str, str]:
    return {"slips": settings.slips_table, "balances": settings.balances_table}


def _export(clients: Clients, settings: Settings, sub: str, filters: Filters, **more: Any) -> Any:
    return run_export(
        dynamodb=clients.dynamodb,
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables=_tables(settings),  # type: ignore[arg-type]
        sub=sub,
        date_range=YEAR,
        formats=frozenset({"json"}),
        now=NOW,
        filters=filters,
        **more,
    )


def _archive(clients: Clients, settings: Settings, key: str) -> zipfile.ZipFile:
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def _sort_keys(archive: zipfile.ZipFile, name: str) -> list[str]:
    return [json.loads(line)["Item"]["sk"]["S"] for line in archive.read(name).splitlines()]


def _keeps(chosen: frozenset[str], value: str) -> bool:
    """The test's own reading of a filter: an empty choice keeps everything."""
    return not chosen or value in chosen


rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(CATEGORIES), st.sampled_from(KINDS)),
    max_size=40,
)
choices = st.builds(
    Filters,
    accounts=st.frozensets(st.sampled_from(ACCOUNTS + ("unused",))),
    categories=st.frozensets(st.sampled_from(CATEGORIES)),
    kinds=st.frozensets(st.sampled_from(KINDS)),
)


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(slips=rows, accounts=st.lists(st.sampled_from(ACCOUNTS), max_size=8), filters=choices)
def test_a_filtered_export_holds_exactly_the_items_a_python_filter_keeps(
    clients: Clients,
    settings: Settings,
    slips: list[tuple[str, str, str]],
    accounts: list[str],
    filters: Filters,
) -> None:
    sub = str(uuid.uuid4())  # a fresh user per example: the tables are shared
    slip_items = [_slip(sub, n, *row) for n, row in enumerate(slips)]
    balance_items = [_balance(sub, n, account) for n, account in enumerate(accounts)]
    for item in slip_items:
        clients.dynamodb.put_item(TableName=settings.slips_table, Item=item)
    for item in balance_items:
        clients.dynamodb.put_item(TableName=settings.balances_table, Item=item)

    result = _export(clients, settings, sub, filters, page_limit=7)

    expected_slips = sorted(
        item["sk"]["S"]
        for item in slip_items
        if _keeps(filters.accounts, item["account"]["S"])
        and _keeps(filters.categories, item["category"]["S"])
        and _keeps(filters.kinds, item["kind"]["S"])
    )
    # Balances have no category or kind: only the account filter applies to them.
    expected_balances = sorted(
        item["sk"]["S"] for item in balance_items if _keeps(filters.accounts, item["account"]["S"])
    )
    archive = _archive(clients, settings, result.key)
    assert _sort_keys(archive, "slips.json") == expected_slips
    assert _sort_keys(archive, "balances.json") == expected_balances
    assert result.counts == {"slips": len(expected_slips), "balances": len(expected_balances)}


class _Recorder:
    """The DynamoDB client, with every Query and Scan it was asked for written down."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries: list[dict[str, Any]] = []
        self.scans = 0

    def query(self, **request: Any) -> Any:
        self.queries.append(request)
        return self.client.query(**request)

    def scan(self, **request: Any) -> Any:  # pragma: no cover - must never be called
        self.scans += 1
        return self.client.scan(**request)


def test_the_filter_rides_on_the_one_key_query_per_table_never_a_scan(
    clients: Clients, settings: Settings
) -> None:
    sub = str(uuid.uuid4())
    for n in range(5):
        clients.dynamodb.put_item(
            TableName=settings.slips_table, Item=_slip(sub, n, "cash", "食費", "expense")
        )
    recorder = _Recorder(clients.dynamodb)
    filters = Filters(accounts=frozenset({"cash", "card"}), kinds=frozenset({"expense"}))

    run_export(
        dynamodb=recorder,  # type: ignore[arg-type]
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables=_tables(settings),  # type: ignore[arg-type]
        sub=sub,
        date_range=YEAR,
        now=NOW,
        filters=filters,
    )

    assert recorder.scans == 0
    assert [q["TableName"] for q in recorder.queries] == [
        settings.slips_table,
        settings.balances_table,
    ]
    slips, balances = recorder.queries
    assert "BETWEEN" in slips["KeyConditionExpression"]
    assert slips["FilterExpression"].count(" IN (") == 2
    names = {slips["ExpressionAttributeNames"][n] for n in ("#f0", "#f2")}
    assert names == {"account", "kind"}
    assert balances["FilterExpression"] == "#f0 IN (:f0_0, :f0_1)"
    assert {balances["ExpressionAttributeValues"][v]["S"] for v in (":f0_0", ":f0_1")} == {
        "card",
        "cash",
    }


def test_an_unfiltered_export_sends_no_filter_and_records_none(
    clients: Clients, settings: Settings
) -> None:
    sub = str(uuid.uuid4())
    recorder = _Recorder(clients.dynamodb)
    result = run_export(
        dynamodb=recorder,  # type: ignore[arg-type]
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables=_tables(settings),  # type: ignore[arg-type]
        sub=sub,
        date_range=YEAR,
        now=NOW,
    )
    assert all("FilterExpression" not in q for q in recorder.queries)
    manifest = json.loads(_archive(clients, settings, result.key).read("manifest.json"))
    assert "filters" not in manifest


def test_the_manifest_records_the_filters_and_reads_them_back(
    clients: Clients, settings: Settings
) -> None:
    sub = str(uuid.uuid4())
    filters = Filters(categories=frozenset({"食費", "交通費"}))
    result = _export(clients, settings, sub, filters)

    raw = _archive(clients, settings, result.key).read("manifest.json")
    assert json.loads(raw)["filters"] == {"categories": ["交通費", "食費"]}
    manifest = parse_manifest(raw)
    assert manifest.filtered
    assert manifest.filters == {"categories": ["交通費", "食費"]}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"colours": ["red"]},
        {"accounts": "cash"},
        {"accounts": [1]},
        {"accounts": [""]},
        {"kinds": ["x" * 201]},
    ],
)
def test_a_manifest_with_malformed_filters_is_refused(
    clients: Clients, settings: Settings, bad: object
) -> None:
    result = _export(clients, settings, str(uuid.uuid4()), Filters())
    document = json.loads(_archive(clients, settings, result.key).read("manifest.json"))
    document["filters"] = bad
    with pytest.raises(ManifestError, match="filters"):
        parse_manifest(json.dumps(document).encode())


def test_filters_from_job_parameters_refuse_anything_but_short_lists_of_text() -> None:
    assert Filters.from_dict(None) == Filters()
    assert Filters.from_dict({"kinds": ["income", "income"]}) == Filters(
        kinds=frozenset({"income"})
    )
    with pytest.raises(FilterError, match="at most 100"):
        Filters.from_dict({"accounts": [f"a{n}" for n in range(MAX_VALUES + 1)]})
    with pytest.raises(FilterError):
        Filters.from_dict({"accounts": [None]})
    with pytest.raises(FilterError):
        Filters.from_dict({"memo": ["x"]})


def _download(clients: Clients, settings: Settings, key: str, tmp_path: Path) -> Path:
    path = tmp_path / "archive.zip"
    path.write_bytes(clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read())
    return path


def _slip_keys(clients: Clients, settings: Settings, sub: str) -> list[str]:
    found = clients.dynamodb.query(
        TableName=settings.slips_table,
        KeyConditionExpression="user_id = :sub",
        ExpressionAttributeValues={":sub": {"S": sub}},
    )["Items"]
    return sorted(item["sk"]["S"] for item in found)


def test_a_filtered_archive_is_never_replaced_only_merged(
    clients: Clients, settings: Settings, tmp_path: Path
) -> None:
    sub = str(uuid.uuid4())
    cash = _slip(sub, 1, "cash", "食費", "expense")
    card = _slip(sub, 2, "card", "食費", "expense")
    for item in (cash, card):
        clients.dynamodb.put_item(TableName=settings.slips_table, Item=item)
    result = _export(clients, settings, sub, Filters(accounts=frozenset({"cash"})))
    path = _download(clients, settings, result.key, tmp_path)
    clients.dynamodb.delete_item(
        TableName=settings.slips_table, Key={"user_id": cash["user_id"], "sk": cash["sk"]}
    )
    before = _slip_keys(clients, settings, sub)

    with open_archive(path) as archive, pytest.raises(RestoreError) as refused:
        restore_archive(
            archive,
            RestoreRequest(replace=True),
            dynamodb=clients.dynamodb,
            tables=_tables(settings),  # type: ignore[arg-type]
        )
    assert "merging" in str(refused.value) and "accounts: cash" in str(refused.value)
    assert _slip_keys(clients, settings, sub) == before  # nothing written, nothing deleted

    with open_archive(path) as archive:
        done = restore_archive(
            archive,
            RestoreRequest(),
            dynamodb=clients.dynamodb,
            tables=_tables(settings),  # type: ignore[arg-type]
        ).tables
    assert done["slips"].written == 1
    assert _slip_keys(clients, settings, sub) == sorted([cash["sk"]["S"], card["sk"]["S"]])


def test_an_export_remembers_the_accounts_categories_and_kinds_it_saw(
    clients: Clients, settings: Settings
) -> None:
    sub = str(uuid.uuid4())
    clients.dynamodb.put_item(
        TableName=settings.slips_table, Item=_slip(sub, 1, "card", "交通費", "expense")
    )
    clients.dynamodb.put_item(TableName=settings.balances_table, Item=_balance(sub, 1, "銀行"))
    store = VocabularyStore(clients.dynamodb, settings.app_table)
    assert store.get(sub) == {"accounts": [], "categories": [], "kinds": []}

    store.add(sub, _export(clients, settings, sub, Filters()).seen)
    store.add(sub, {"accounts": {"cash"}, "categories": set(), "kinds": {"income"}})

    assert store.get(sub) == {
        "accounts": ["card", "cash", "銀行"],
        "categories": ["交通費"],
        "kinds": ["expense", "income"],
    }


def test_the_restore_command_refuses_to_replace_from_a_filtered_archive(
    app: Flask, clients: Clients, settings: Settings, tmp_path: Path
) -> None:
    sub = str(uuid.uuid4())
    clients.dynamodb.put_item(
        TableName=settings.slips_table, Item=_slip(sub, 3, "card", "食費", "expense")
    )
    result = _export(clients, settings, sub, Filters(kinds=frozenset({"income"})))
    path = _download(clients, settings, result.key, tmp_path)

    answer = app.test_cli_runner().invoke(
        args=["restore", str(path), "--as-user", sub, "--replace"]
    )

    assert answer.exit_code == 1
    assert "restore it by merging instead. Nothing was written." in answer.output
    assert "kinds: income" in answer.output
    assert _slip_keys(clients, settings, sub) == [f"2025-04-04#{3:05d}"]  # the card slip stays


def test_the_archives_readme_says_what_the_filters_kept_in_both_languages(
    clients: Clients, settings: Settings
) -> None:
    sub = str(uuid.uuid4())
    filters = Filters(accounts=frozenset({"card", "cash"}), kinds=frozenset({"expense"}))
    readme = (
        _archive(clients, settings, _export(clients, settings, sub, filters).key)
        .read("README.txt")
        .decode("utf-8")
    )
    assert "Filtered: only the items with account card or cash; kind expense" in readme
    assert "絞り込み：口座 カード・現金、種類 支出のデータだけを含みます" in readme
    plain = _archive(clients, settings, _export(clients, settings, sub, Filters()).key)
    assert "Filtered" not in plain.read("README.txt").decode("utf-8")

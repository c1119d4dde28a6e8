"""The archive's Excel workbook and Shift_JIS CSV, on moto: read back with openpyxl and cp932."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from support import leftovers, run_export

from webapp.archive import workbook
from webapp.archive.dates import DateRange
from webapp.archive.errors import ExportError, RestoreError
from webapp.archive.export import ExportResult
from webapp.archive.reader import open_archive
from webapp.archive.workbook import MAX_DATA_ROWS, WORKBOOK_NAME, TooManyRows, check_rows
from webapp.aws import Clients
from webapp.settings import Settings

NOW = datetime(2026, 11, 25, 19, 34, 42, tzinfo=UTC)
YEAR = DateRange(date(2025, 1, 1), date(2025, 12, 31))
ALICE = "7a1c0e52-0000-4000-8000-00000000a11c"
SLIPS = [
    {
        "user_id": {"S": ALICE},
        "sk": {"S": "2025-03-01#a"},
        "date": {"S": "2025-03-01"},
        "kind": {"S": "expense"},
        "category": {"S": "食費"},
        "account": {"S": "cash"},
        "amount": {"N": "-1200"},
        "memo": {"S": "=SUM(A1)"},
        "created_at": {"S": "2025-03-01T12:00:00+09:00"},
    },
    {
        "user_id": {"S": ALICE},
        "sk": {"S": "2025-03-02#b"},
        "date": {"S": "2025-03-02"},
        "kind": {"S": "income"},
        "category": {"S": "給与"},
        "account": {"S": "bank"},
        "amount": {"N": "250000"},
        "memo": {"S": "ランチ😀と🍣"},  # two characters cp932 cannot hold
        "created_at": {"S": "2025-03-02T09:00:00+09:00"},
        "tags": {"SS": ["家計"]},
    },
    {
        "user_id": {"S": ALICE},
        "sk": {"S": "2025-03-03#c"},
        "date": {"S": "2025-03-03"},
        "kind": {"S": "expense"},
        "category": {"S": "日用品"},
        "account": {"S": "card"},
        "amount": {"N": "-123456789012345678901234567890.5"},  # more digits than Excel holds
        "memo": {"S": "①～②、髙橋さんへ ♥"},  # cp932 has these but not ♥ (U+2665)
        "created_at": {"S": "2025-03-03T10:00:00+09:00"},
    },
]
BALANCES = [
    {
        "user_id": {"S": ALICE},
        "sk": {"S": "2025-03-31#bank"},
        "date": {"S": "2025-03-31"},
        "account": {"S": "bank"},
        "balance": {"N": "1234567"},
    }
]


@pytest.fixture
def seeded(clients: Clients, settings: Settings) -> None:
    for table, items in ((settings.slips_table, SLIPS), (settings.balances_table, BALANCES)):
        for item in items:
            clients.dynamodb.put_item(TableName=table, Item=item)


def export(clients: Clients, settings: Settings, **options: Any) -> ExportResult:
    return run_export(
        dynamodb=clients.dynamodb,
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables={"slips": settings.slips_table, "balances": settings.balances_table},
        sub=ALICE,
        date_range=YEAR,
        now=NOW,
        **options,
    )


def fetch(clients: Clients, settings: Settings, key: str) -> zipfile.ZipFile:
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def test_the_workbook_has_a_typed_sheet_per_table(
    clients: Clients, settings: Settings, seeded: None
) -> None:
    archive = fetch(clients, settings, export(clients, settings, formats={"xlsx"}).key)
    assert archive.namelist() == [WORKBOOK_NAME, "README.txt", "manifest.json"]
    book = openpyxl.load_workbook(io.BytesIO(archive.read(WORKBOOK_NAME)))
    assert book.sheetnames == ["slips", "balances"]
    slips = book["slips"]
    rows = list(slips.iter_rows(values_only=True))
    assert rows[0] == (
        "user_id", "sk", "date", "kind", "category", "account", "amount", "memo",
        "created_at", "other",
    )  # fmt: skip
    assert rows[1] == (
        ALICE, "2025-03-01#a", datetime(2025, 3, 1), "expense", "食費", "cash", -1200,
        "=SUM(A1)", "2025-03-01T12:00:00+09:00", None,
    )  # fmt: skip
    assert rows[2][6] == 250000 and rows[2][7] == "ランチ😀と🍣"
    assert json.loads(rows[2][9]) == {"tags": {"SS": ["家計"]}}
    # Too many digits for a double: kept exactly, as text.
    assert rows[3][6] == "-123456789012345678901234567890.5"
    memo = slips["H2"]
    assert memo.data_type == "s" and memo.value == "=SUM(A1)"  # a string, not a formula
    assert slips["C2"].is_date and slips["C2"].number_format == "yyyy-mm-dd"
    assert slips["G2"].data_type == "n" and slips["G2"].number_format == '"¥"#,##0;-"¥"#,##0'
    assert slips.freeze_panes == "A2"
    assert slips.auto_filter.ref == "A1:J4"
    assert slips.column_dimensions["H"].width > slips.column_dimensions["D"].width
    balances = book["balances"]
    assert list(balances.iter_rows(values_only=True)) == [
        ("user_id", "sk", "date", "account", "balance", "other"),
        (ALICE, "2025-03-31#bank", datetime(2025, 3, 31), "bank", 1234567, None),
    ]
    assert balances["E2"].number_format == '"¥"#,##0;-"¥"#,##0'
    assert balances.freeze_panes == "A2" and balances.auto_filter.ref == "A1:F2"


def test_the_manifest_lists_the_workbook_with_its_size_and_checksum(
    clients: Clients, settings: Settings, seeded: None
) -> None:
    archive = fetch(clients, settings, export(clients, settings, formats={"xlsx", "json"}).key)
    manifest = json.loads(archive.read("manifest.json"))
    data = archive.read(WORKBOOK_NAME)
    readme = archive.read("README.txt")
    assert manifest["files"] == {
        WORKBOOK_NAME: {
            "format": "xlsx",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        "README.txt": {
            "format": "text",
            "bytes": len(readme),
            "sha256": hashlib.sha256(readme).hexdigest(),
        },
    }
    assert list(manifest["tables"]["slips"]["files"]) == ["slips.json"]


def test_a_sheet_past_excels_row_limit_is_refused_with_a_plain_message() -> None:
    check_rows("slips", MAX_DATA_ROWS)  # 1 header + 1,048,575 rows: exactly full
    with pytest.raises(TooManyRows) as caught:
        check_rows("slips", MAX_DATA_ROWS + 1)
    assert isinstance(caught.value, ExportError)
    assert str(caught.value) == (
        "The slips of that range (1,048,576 rows) do not fit in one Excel sheet, which holds "
        "at most 1,048,575. Choose a shorter period or CSV."
    )


def test_an_export_past_the_row_limit_fails_and_leaves_nothing(
    clients: Clients, settings: Settings, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workbook, "MAX_DATA_ROWS", 2)  # the seed has 3 slips
    with pytest.raises(TooManyRows, match="do not fit in one Excel sheet"):
        export(clients, settings, formats={"xlsx", "json"})
    assert leftovers(clients, settings) == ([], [])
    # Without the workbook the same range exports.
    export(clients, settings, formats={"csv", "json"})


def test_a_restore_checks_the_workbook_against_the_manifest(
    clients: Clients, settings: Settings, seeded: None, tmp_path: Path
) -> None:
    body = clients.s3.get_object(
        Bucket=settings.export_bucket,
        Key=export(clients, settings, formats={"csv", "xlsx", "json"}).key,
    )["Body"].read()
    with open_archive(io.BytesIO(body)) as reader:
        assert reader.verify(["slips", "balances"]) == {"slips": 3, "balances": 1}
    # The same archive with the workbook's bytes changed (same size) is refused.
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(io.BytesIO(body)) as source, zipfile.ZipFile(changed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == WORKBOOK_NAME:
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.writestr(info.filename, data)
    with open_archive(changed) as reader, pytest.raises(RestoreError, match=WORKBOOK_NAME):
        reader.verify(["slips"])


def test_a_shift_jis_csv_replaces_what_cp932_lacks_and_counts_it(
    clients: Clients, settings: Settings, seeded: None
) -> None:
    result = export(clients, settings, formats={"csv"}, csv_encoding="cp932")
    archive = fetch(clients, settings, result.key)
    raw = archive.read("slips.csv")
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM in Shift_JIS
    text = raw.decode("cp932")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:3] == ["user_id", "sk", "date"]
    assert [row[7] for row in rows[1:]] == ["'=SUM(A1)", "ランチ?と?", "①～②、髙橋さんへ ?"]
    assert rows[1][6] == "-1200"  # numbers stay numbers, the guard is unchanged
    assert result.replaced == {"slips": 3, "balances": 0}
    files = json.loads(archive.read("manifest.json"))["tables"]
    assert files["slips"]["files"]["slips.csv"]["encoding"] == "cp932"
    assert files["slips"]["files"]["slips.csv"]["replaced"] == 3
    assert files["balances"]["files"]["balances.csv"]["replaced"] == 0
    assert "Shift_JIS" in archive.read("README.txt").decode("utf-8")


def test_the_default_csv_is_still_utf8_with_a_bom_and_nothing_replaced(
    clients: Clients, settings: Settings, seeded: None
) -> None:
    result = export(clients, settings, formats={"csv"})
    archive = fetch(clients, settings, result.key)
    assert archive.read("slips.csv").decode("utf-8-sig").count("😀") == 1
    assert archive.read("slips.csv").startswith(b"\xef\xbb\xbf")
    assert result.replaced == {"slips": 0, "balances": 0}
    entry = json.loads(archive.read("manifest.json"))["tables"]["slips"]["files"]["slips.csv"]
    assert "encoding" not in entry  # as every archive before the choice


def test_an_unknown_csv_encoding_is_refused(clients: Clients, settings: Settings) -> None:
    with pytest.raises(ExportError, match="UTF-8 or Shift_JIS"):
        export(clients, settings, csv_encoding="latin-1")


def _soffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("soffice (libreoffice-calc-nogui) is needed under CI")
        pytest.skip(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    return found


def _convert(soffice: str, source: Path, out: Path, *infilter: str) -> list[list[str]]:
    # A profile of its own, so a desktop LibreOffice (or a parallel test) never interferes.
    profile = f"-env:UserInstallation=file://{out}/profile"
    subprocess.run(
        [soffice, profile, "--headless", *infilter, "--convert-to", "csv:Text - txt - csv "
         "(StarCalc):44,34,76", "--outdir", str(out), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    text = (out / f"{source.stem}.csv").read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_libreoffice_reads_the_workbook_and_both_csv_encodings_alike(
    clients: Clients, settings: Settings, seeded: None, tmp_path: Path
) -> None:
    soffice = _soffice()
    every = {"csv", "xlsx"}
    utf8 = fetch(clients, settings, export(clients, settings, formats=every).key)
    cp932 = export(clients, settings, formats={"csv"}, csv_encoding="cp932")
    sjis = fetch(clients, settings, cp932.key)
    for name, archive in (("utf8", utf8), ("sjis", sjis)):
        (tmp_path / name).mkdir()
        archive.extractall(tmp_path / name)
    book = _convert(soffice, tmp_path / "utf8" / WORKBOOK_NAME, tmp_path / "xlsx")
    from_utf8 = _convert(
        soffice, tmp_path / "utf8" / "slips.csv", tmp_path / "u", "--infilter=CSV:44,34,76"
    )
    from_sjis = _convert(
        soffice, tmp_path / "sjis" / "slips.csv", tmp_path / "s", "--infilter=CSV:44,34,64"
    )
    # The first sheet (slips): the date shows as yyyy-mm-dd, amounts in yen, text as is.
    assert book[0][:3] == ["user_id", "sk", "date"]
    assert book[1][2] == "2025-03-01" and book[1][6] == "-¥1,200" and book[1][7] == "=SUM(A1)"
    assert book[2][7] == "ランチ😀と🍣"
    for rows in (from_utf8, from_sjis):
        assert rows[0] == book[0]
        assert [row[1] for row in rows] == [row[1] for row in book]
        assert rows[1][7] == "'=SUM(A1)" and rows[1][6] == "-1200"
    assert from_utf8[2][7] == "ランチ😀と🍣"
    assert from_sjis[2][7] == "ランチ?と?"
    assert from_sjis[3][7] == "①～②、髙橋さんへ ?"


def test_libreoffice_runs_no_formula_hidden_behind_invisible_characters(tmp_path: Path) -> None:
    soffice = _soffice()
    from webapp.archive.encode import csv_header, csv_rows
    from webapp.model import SPECS

    memos = ["\x00=1+1", "\u3000＝1+1", " =1+1", "\ufeff=1+1", "\u00a0+1+1", "=1+1"]
    items = [
        {
            "user_id": {"S": "u"},
            "sk": {"S": f"2025-01-0{n + 1}#x"},
            "amount": {"N": "-1200"},
            "memo": {"S": memo},
        }
        for n, memo in enumerate(memos)
    ]
    spec = SPECS["slips"]
    source = tmp_path / "slips.csv"
    source.write_bytes((csv_header(spec) + csv_rows(items, spec)).encode("utf-8"))

    rows = _convert(soffice, source, tmp_path / "out", "--infilter=CSV:44,34,76")

    amount, memo = spec.columns.index("amount"), spec.columns.index("memo")
    assert [row[amount] for row in rows[1:]] == ["-1200"] * len(memos)  # still numbers
    assert all(row[memo].startswith("'") for row in rows[1:]), rows
    assert "2" not in [row[memo] for row in rows[1:]]  # no 1+1 was run

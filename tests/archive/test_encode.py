"""The encoders: CSV that Excel opens safely, DynamoDB JSON Lines that lose nothing."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from webapp.archive.encode import BOM, cell, csv_header, csv_rows, guard, json_lines
from webapp.model import SPECS

SLIPS = SPECS["slips"]


def slip(**attributes: Any) -> dict[str, Any]:
    """Return a typed slip; keyword arguments replace or add typed attributes."""
    item: dict[str, Any] = {
        "user_id": {"S": "sub-1"},
        "sk": {"S": "2025-03-01#a1"},
        "date": {"S": "2025-03-01"},
        "kind": {"S": "expense"},
        "category": {"S": "食費"},
        "account": {"S": "cash"},
        "amount": {"N": "-1200"},
        "memo": {"S": "イオン"},
        "created_at": {"S": "2025-03-01T12:00:00+09:00"},
    }
    item.update(attributes)
    return item


def read_csv(text: str) -> list[list[str]]:
    """Parse CSV text the way a careful reader would (RFC 4180, CRLF)."""
    return list(csv.reader(io.StringIO(text, newline="")))


def reference_csv(items: list[dict[str, Any]]) -> str:
    """Return what the standard csv module writes for the same cells, one item at a time."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    known = set(SLIPS.columns)
    for item in items:
        extra = {k: v for k, v in item.items() if k not in known}
        other = json.dumps(extra, ensure_ascii=False, separators=(",", ":"), default=b64)
        writer.writerow([cell(item.get(c)) for c in SLIPS.columns] + [other if extra else ""])
    return out.getvalue()


def b64(value: object) -> str:
    assert isinstance(value, bytes)
    return base64.b64encode(value).decode("ascii")


def test_header_starts_with_a_bom_and_names_every_column_then_other() -> None:
    header = csv_header(SLIPS)
    assert header.startswith(BOM)
    assert header.endswith("\r\n")
    assert read_csv(header.removeprefix(BOM)) == [[*SLIPS.columns, "other"]]


def test_rows_read_back_with_japanese_quotes_commas_and_newlines_intact() -> None:
    memos = ["ランチ, 同僚と", '"特売"の卵', "領収書あり\n経費精算する", "家族で😀", "a\r\nb", ""]
    items = [slip(memo={"S": memo}) for memo in memos]
    text = csv_rows(items, SLIPS)
    assert text.endswith("\r\n")
    rows = read_csv(text)
    assert [row[SLIPS.columns.index("memo")] for row in rows] == memos
    assert all(len(row) == len(SLIPS.columns) + 1 for row in rows)
    assert text.count("\r\n") == len(items) + 1  # one record separator each, plus "a\r\nb"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("=SUM(A1:A3)", "'=SUM(A1:A3)"),
        ("+81 90", "'+81 90"),
        ("-5%割引", "'-5%割引"),
        ("@キャンペーン", "'@キャンペーン"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        ("1200", "1200"),
        ("", ""),
        # Behind what shows nothing: LibreOffice ran "\0=1+1" as a formula.
        ("\x00=1+1", "'\x00=1+1"),
        ("\x00\x01 =1", "'\x00\x01 =1"),
        (" =1+1", "' =1+1"),
        ("\ufeff+1", "'\ufeff+1"),
        ("\u00a0-1", "'\u00a0-1"),
        ("\u3000@a", "'\u3000@a"),
        ("\u2028=1", "'\u2028=1"),
        ("\u200b=1", "'\u200b=1"),
        # The full-width forms a Japanese input method types.
        ("＝SUM(A1)", "'＝SUM(A1)"),
        ("\u3000＋81", "'\u3000＋81"),
        ("－5", "'－5"),
        ("＠x", "'＠x"),
        (" plain", " plain"),
        ("\x00plain", "\x00plain"),
    ],
)
def test_text_cells_that_could_run_as_formulas_get_a_leading_quote(text: str, shown: str) -> None:
    assert guard(text) == shown
    rows = read_csv(csv_rows([slip(), slip(memo={"S": text})], SLIPS))
    assert rows[1][SLIPS.columns.index("memo")] == shown
    assert rows[0][SLIPS.columns.index("memo")] == "イオン"


def test_numbers_stay_numbers_even_when_negative() -> None:
    items = [slip(amount={"N": "-1200"}), slip(amount={"N": "285000"}), slip(amount={"N": "-0.5"})]
    text = csv_rows(items, SLIPS)
    assert [row[SLIPS.columns.index("amount")] for row in read_csv(text)] == [
        "-1200",
        "285000",
        "-0.5",
    ]
    assert ",-1200," in text  # unquoted and unguarded: Excel reads a number


def test_a_number_in_a_text_column_and_text_in_a_number_column_keep_their_type() -> None:
    items = [slip(memo={"N": "-7"}), slip(amount={"S": "-7"})]
    rows = read_csv(csv_rows(items, SLIPS))
    assert rows[0][SLIPS.columns.index("memo")] == "-7"
    assert rows[1][SLIPS.columns.index("amount")] == "'-7"


def test_missing_attributes_are_empty_and_unknown_ones_go_to_other_as_dynamodb_json() -> None:
    plain = slip()
    del plain["memo"]
    tagged = slip(tags={"SS": ["家計", "a,b"]}, receipt={"B": b"\x00\xff"}, paid={"BOOL": True})
    rows = read_csv(csv_rows([plain, tagged], SLIPS))
    assert rows[0][SLIPS.columns.index("memo")] == ""
    assert rows[0][-1] == ""
    assert json.loads(rows[1][-1]) == {
        "tags": {"SS": ["家計", "a,b"]},
        "receipt": {"B": "AP8="},
        "paid": {"BOOL": True},
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ({"NULL": True}, ""),
        ({"BOOL": True}, "TRUE"),
        ({"BOOL": False}, "FALSE"),
        ({"B": b"\xfb\xef"}, "'++8="),  # base64 can start with "+"
        ({"NS": ["1", "-2"]}, '{"NS":["1","-2"]}'),
        ({"M": {"a": {"L": [{"S": "x"}]}}}, '{"M":{"a":{"L":[{"S":"x"}]}}}'),
    ],
)
def test_other_types_in_a_known_column_are_shown_as_text(
    value: dict[str, Any] | None, text: str
) -> None:
    assert cell(value) == text


def test_an_empty_page_has_no_rows() -> None:
    assert csv_rows([], SLIPS) == ""
    assert json_lines([]) == ""


def test_a_page_of_usual_items_is_spliced_column_by_column_as_the_encoder_writes_it() -> None:
    page = [slip(), slip(memo={"S": 'say "hi"\\ \n\t\u0001 😀'}), slip(amount={"N": "0.5"})]
    assert json_lines(page, SLIPS) == json_lines(page)
    assert json_lines(page, SLIPS) == "".join(
        json.dumps({"Item": item}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for item in page
    )


def test_json_lines_are_compact_items_in_dynamodb_json_with_binary_as_base64() -> None:
    items = [slip(), slip(receipt={"B": b"\x00\x01"}, codes={"BS": [b"\xff"]}, none={"NULL": True})]
    text = json_lines(items)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    assert lines[0].startswith('{"Item":{"user_id":{"S":"sub-1"},')
    assert " " not in lines[0].replace("イオン", "")
    assert "食費" in lines[0]  # UTF-8, not \u escapes
    second = json.loads(lines[1])["Item"]
    assert second["receipt"] == {"B": "AAE="}
    assert second["codes"] == {"BS": ["/w=="]}
    assert second["none"] == {"NULL": True}


# Typed values of every DynamoDB kind, nested a few levels.
names = st.text(min_size=1, max_size=8)
texts = st.text(max_size=12)
numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,37})(\.[0-9]{1,10})?", fullmatch=True)
scalars = st.one_of(
    texts.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    st.binary(max_size=8).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(texts, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
    st.lists(numbers, min_size=1, max_size=3, unique=True).map(lambda v: {"NS": v}),
    st.lists(st.binary(max_size=4), min_size=1, max_size=3, unique=True).map(lambda v: {"BS": v}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(names, inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=6,
)
# Mostly the usual shape (so the fast column paths run), sometimes not.
strings = texts.map(lambda s: {"S": s})
usual = st.fixed_dictionaries(
    {
        "user_id": strings,
        "sk": strings,
        "date": strings,
        "kind": st.sampled_from(["expense", "=1+1", "-x", "a,b", '"q"']).map(lambda s: {"S": s}),
        "category": strings,
        "account": strings,
        "amount": st.one_of(numbers.map(lambda n: {"N": n}), scalars),
        "memo": st.one_of(strings, values),
        "created_at": strings,
    }
)
items = st.one_of(
    usual,
    usual.flatmap(lambda item: st.dictionaries(names, values, max_size=3).map(item.__or__)),
    st.dictionaries(st.one_of(st.sampled_from(SLIPS.columns), names), values, max_size=6),
)


@hsettings(max_examples=150, deadline=None)
@given(st.lists(items, max_size=6))
def test_page_encoding_equals_the_csv_module_cell_by_cell(page: list[dict[str, Any]]) -> None:
    assert csv_rows(page, SLIPS) == reference_csv(page)


def as_json(value: Any) -> Any:
    """Return a typed value with binary as base64 text, as the JSON files hold it."""
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


@hsettings(max_examples=100, deadline=None)
@given(st.lists(items, max_size=6))
def test_json_lines_hold_every_item_exactly(page: list[dict[str, Any]]) -> None:
    text = json_lines(page, SLIPS)
    lines = text.split("\n")
    assert lines.pop() == ""
    assert [json.loads(line) for line in lines] == [{"Item": as_json(item)} for item in page]
    # Items in the spec's order come out byte for byte as the per-item encoder writes them.
    in_order = [{k: item[k] for k in SLIPS.columns if k in item} | item for item in page]
    assert json_lines(in_order, SLIPS) == json_lines(in_order)

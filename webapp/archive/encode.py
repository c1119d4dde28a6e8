"""Encode pages of DynamoDB items, as the low-level client returns them, to CSV and JSON.

Items keep DynamoDB's type descriptors (``{"amount": {"N": "-1200"}}``), so a
number keeps every digit and a set stays a set. Both encoders take a whole page
and work column by column with C-level builtins where the page allows: a Python
loop per cell costs more than deflate, SHA-256 and the upload together. Any
page the fast paths do not fit goes through exact per-item code instead, with
the same output.
"""

from __future__ import annotations

import base64
import codecs
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from json.encoder import encode_basestring  # the C escaper JSONEncoder itself uses
from operator import itemgetter
from typing import Any

from ..model import TableSpec
from .manifest import CsvEncoding

#: One item as the low-level client returns it: attribute name -> typed value.
Item = Mapping[str, Any]

#: What stands for a character the encoding cannot hold.
REPLACEMENT = "?"

BOM = "\ufeff"
NEWLINE = "\r\n"
OTHER_COLUMN = "other"

# OWASP's CSV-injection list, and the full-width forms Japanese input gives.
# Only text cells are guarded: ``-1200`` in a number column must stay a number.
_STARTERS = r"=+\-@\uff1d\uff0b\uff0d\uff20"
# What a spreadsheet may skip before it reads a formula (LibreOffice ran
# "\0=1+1" as one): control characters, spaces of every width, the BOM, NBSP,
# the ideographic space, line and paragraph separators, and the zero-width and
# direction marks, which show nothing either.
_INVISIBLE = (
    r"\x00-\x20\x7f-\xa0\xad\u1680\u180e\u2000-\u200f\u2028-\u202f"
    r"\u205f-\u2064\u206a-\u206f\u3000\ufeff"
)
# A text whose first character that shows is a formula starter; a tab or CR
# first is guarded whatever follows (OWASP).
_FORMULA = re.compile(rf"[\t\r]|[{_INVISIBLE}]*[{_STARTERS}]")
# The same at the start of any cell after the first, in cells joined by NUL (a
# NUL inside a cell only sends the column down the exact, slower path). A
# literal first character lets the regex engine skip ahead fast.
_FORMULA_AFTER_NUL = re.compile(rf"\x00(?:[\t\r]|[{_INVISIBLE}]*[{_STARTERS}])")
_SCALARS = ("S", "N")


def _binary(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as DynamoDB JSON")


# check_circular off: items come from JSON, they cannot contain themselves.
_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_binary, check_circular=False
)
_encode_json = _JSON.encode


def dynamodb_json(value: Mapping[str, Any]) -> str:
    """Return attributes (name -> typed value) as compact DynamoDB JSON, binary as base64."""
    return _encode_json(value)


# Counts what the error handler replaced, per thread: the codec registry is global.
_replaced = threading.local()


def _count_and_replace(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    missing = error.end - error.start
    _replaced.count = getattr(_replaced, "count", 0) + missing
    return REPLACEMENT * missing, error.end


codecs.register_error("kakeibo-replace", _count_and_replace)


def encode_text(text: str, encoding: CsvEncoding) -> tuple[bytes, int]:
    """Return CSV text as bytes and how many characters became ``?`` (never any in UTF-8)."""
    if encoding == "utf-8-sig":
        return text.encode("utf-8"), 0
    try:
        return text.encode(encoding), 0  # the usual case, at C speed
    except UnicodeEncodeError:
        pass
    _replaced.count = 0
    data = text.encode(encoding, errors="kakeibo-replace")
    return data, int(_replaced.count)


def json_lines(items: Sequence[Item], spec: TableSpec | None = None) -> str:
    """Return items as DynamoDB JSON Lines: one ``{"Item": {...}}`` and ``\\n`` each."""
    if spec is not None and items and set(map(len, items)) == {len(spec.columns)}:
        # Every item has exactly the spec's attributes; fast if each is all S or all N.
        found = [_scalars(items, name) for name in spec.columns]
        columns = [column for column in found if column is not None]
        if len(columns) == len(found):
            return _json_by_column(spec.columns, columns)
    return "".join([f'{{"Item":{_encode_json(item)}}}\n' for item in items])


def csv_header(spec: TableSpec, encoding: CsvEncoding = "utf-8-sig") -> str:
    """Return the first line of a table's CSV file, with a byte order mark in UTF-8."""
    bom = BOM if encoding == "utf-8-sig" else ""
    return bom + ",".join(_quote(name) for name in (*spec.columns, OTHER_COLUMN)) + NEWLINE


def csv_rows(items: Sequence[Item], spec: TableSpec) -> str:
    """Return the CSV lines of a page: the spec's columns, then ``other`` as JSON."""
    if not items:
        return ""
    pieces: list[Iterable[str]] = []
    for name in spec.columns:
        pieces += (_csv_column(items, name), repeat(","))
    pieces += (_other(items, spec), repeat(NEWLINE))
    return "".join(chain.from_iterable(zip(*pieces, strict=False)))


def guard(text: str) -> str:
    """Return text a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if _FORMULA.match(text) else text


def cell(value: Mapping[str, Any] | None) -> str:
    """Return one typed value as a CSV cell's text (before quoting)."""
    if value is None or "NULL" in value:
        return ""
    if "S" in value:
        return guard(value["S"])
    if "N" in value:
        return str(value["N"])
    if "BOOL" in value:
        return "TRUE" if value["BOOL"] else "FALSE"
    if "B" in value:
        return guard(_binary(value["B"]))
    # Sets, lists and maps keep their type descriptors, as in the JSON files.
    return _encode_json(value)


def _scalars(items: Sequence[Item], name: str) -> tuple[str, list[str]] | None:
    """Return ("S" or "N", the values) if every item holds ``name`` as that type."""
    try:
        typed = list(map(itemgetter(name), items))
    except KeyError:  # missing from some item
        return None
    for code in _SCALARS:
        try:
            return code, list(map(itemgetter(code), typed))
        except KeyError:  # not every value is of this type
            continue
    return None


def _json_by_column(names: Sequence[str], columns: list[tuple[str, list[str]]]) -> str:
    """Return JSON lines spliced from escaped values and constant pieces between them."""
    pieces: list[Iterable[str]] = []
    for index, (name, (code, values)) in enumerate(zip(names, columns, strict=True)):
        opening = '{"Item":{' if index == 0 else "},"
        pieces.append(repeat(f'{opening}{encode_basestring(name)}:{{"{code}":'))
        pieces.append(map(encode_basestring, values))
    pieces.append(repeat("}}}\n"))
    return "".join(chain.from_iterable(zip(*pieces, strict=False)))


def _csv_column(items: Sequence[Item], name: str) -> list[str]:
    """Return one column's cells, quoted; fast when the column is all S or all N."""
    scalars = _scalars(items, name)
    if scalars is None:
        return _quoted([cell(item.get(name)) for item in items])
    code, values = scalars
    joined = "\0".join(values)
    if code == "S" and (_FORMULA.match(values[0]) or _FORMULA_AFTER_NUL.search(joined)):
        values = [guard(value) for value in values]
    return _quoted(values, joined)


def _other(items: Sequence[Item], spec: TableSpec) -> list[str]:
    """Return the ``other`` cells: attributes outside the spec, as DynamoDB JSON."""
    known = frozenset(spec.columns)
    if all(known.issuperset(item) for item in items):
        return [""] * len(items)
    cells = []
    for item in items:
        extra = {name: value for name, value in item.items() if name not in known}
        cells.append(_encode_json(extra) if extra else "")
    return _quoted(cells)


def _quoted(cells: list[str], joined: str | None = None) -> list[str]:
    """Quote the cells that need it (RFC 4180); most columns need none."""
    if joined is None:
        joined = "\0".join(cells)
    if not _needs_quotes(joined):
        return cells
    return [_quote(text) for text in cells]


def _quote(text: str) -> str:
    if _needs_quotes(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _needs_quotes(text: str) -> bool:
    # Four substring tests beat one character-class regex several times over.
    return '"' in text or "," in text or "\n" in text or "\r" in text

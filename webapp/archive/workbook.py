"""The archive's Excel workbook: one sheet per table, typed cells, rows streamed to disk.

XlsxWriter's constant_memory mode writes each row to a temporary file as soon
as the next row starts, so memory stays at one row whatever the range; the
finished workbook is a file that the export then streams into the zip. Cells
are typed for Excel (dates, yen amounts, text) with the CSV's columns; text is
always written as a string, so a memo like ``=SUM(A1)`` can never run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped, unused-ignore]

from ..errors import N_
from ..model import SPECS, TABLES, TableName, TableSpec
from . import encode
from .errors import ExportError

WORKBOOK_NAME = "kakeibo.xlsx"
#: Excel's rows per sheet, the header row included.
MAX_ROWS = 1_048_576
MAX_DATA_ROWS = MAX_ROWS - 1
#: Excel shows at most 15 significant digits; a longer number is kept as text.
_MAX_DIGITS = 15
_DATE_COLUMNS = frozenset({"date"})
_YEN_COLUMNS = frozenset({"amount", "balance"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
YEN_FORMAT = '"¥"#,##0;-"¥"#,##0'
DATE_FORMAT = "yyyy-mm-dd"
#: Column widths in Excel's character units, by column name (others get the default).
_WIDTHS = {
    "user_id": 38,
    "sk": 28,
    "date": 12,
    "kind": 10,
    "category": 14,
    "account": 14,
    "amount": 14,
    "balance": 14,
    "memo": 30,
    "created_at": 26,
    encode.OTHER_COLUMN: 40,
}
_DEFAULT_WIDTH = 14


class TooManyRows(ExportError):
    """A table has more rows than one Excel sheet holds."""


def check_rows(table: TableName, count: int) -> None:
    """Refuse ``count`` rows of ``table`` if they would not fit in one Excel sheet."""
    if count > MAX_DATA_ROWS:
        raise TooManyRows(
            N_(
                "The %(table)s of that range (%(count)s rows) do not fit in one Excel sheet, "
                "which holds at most %(most)s. Choose a shorter period or CSV."
            ),
            table=table,
            count=count,
            most=MAX_DATA_ROWS,
        )


class Workbook:
    """``kakeibo.xlsx`` being written to ``path``: add each table's pages in turn, then close."""

    def __init__(self, path: Path, tmpdir: Path) -> None:
        self.path = path
        self._book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "tmpdir": str(tmpdir), "in_memory": False}
        )
        self._header = self._book.add_format({"bold": True})
        self._date = self._book.add_format({"num_format": DATE_FORMAT})
        self._yen = self._book.add_format({"num_format": YEN_FORMAT})
        # Sheets in table order; each is filled before the next starts.
        self._sheets = {table: self._book.add_worksheet(table) for table in TABLES}
        self._rows: dict[TableName, int] = dict.fromkeys(TABLES, 0)
        for table in TABLES:
            self._start(table, SPECS[table])

    def _start(self, table: TableName, spec: TableSpec) -> None:
        sheet = self._sheets[table]
        columns = (*spec.columns, encode.OTHER_COLUMN)
        for index, name in enumerate(columns):
            sheet.set_column(index, index, _WIDTHS.get(name, _DEFAULT_WIDTH))
            sheet.write_string(0, index, name, self._header)
        sheet.freeze_panes(1, 0)

    def add(self, table: TableName, items: Sequence[encode.Item]) -> None:
        """Append a page of a table's items as rows; refuse rows past Excel's limit first."""
        check_rows(table, self._rows[table] + len(items))
        spec = SPECS[table]
        sheet = self._sheets[table]
        known = frozenset(spec.columns)
        other = len(spec.columns)
        row = self._rows[table]
        for item in items:
            row += 1
            for column, name in enumerate(spec.columns):
                value = item.get(name)
                if value is not None:
                    self._write(sheet, row, column, name, value)
            extra = {name: value for name, value in item.items() if name not in known}
            if extra:
                sheet.write_string(row, other, encode.dynamodb_json(extra))
        self._rows[table] = row

    def close(self) -> None:
        """Finish every sheet (autofilter over its rows) and write the workbook file."""
        for table in TABLES:
            columns = len(SPECS[table].columns)  # the last column's index: ``other``
            self._sheets[table].autofilter(0, 0, self._rows[table], columns)
        self._book.close()

    def _write(
        self, sheet: Any, row: int, column: int, name: str, value: Mapping[str, Any]
    ) -> None:
        if "S" in value:
            text = value["S"]
            if name in _DATE_COLUMNS and _ISO_DATE.fullmatch(text):
                try:
                    day = date.fromisoformat(text)
                except ValueError:
                    pass
                else:
                    sheet.write_datetime(
                        row, column, datetime(day.year, day.month, day.day), self._date
                    )
                    return
            sheet.write_string(row, column, text)
        elif "N" in value:
            number = _number(value["N"])
            if number is None:
                sheet.write_string(row, column, str(value["N"]))
            else:
                fmt = self._yen if name in _YEN_COLUMNS else None
                sheet.write_number(row, column, number, fmt)
        elif "BOOL" in value:
            sheet.write_boolean(row, column, bool(value["BOOL"]))
        elif "NULL" not in value:
            # Binary, sets, lists and maps: the CSV's text, without its formula guard
            # (a string cell never runs).
            sheet.write_string(row, column, encode.cell(value).lstrip("'"))


def _number(text: str) -> float | int | None:
    """Return ``text`` as a number Excel holds exactly, or None if it has too many digits."""
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return None
    if not exact.is_finite() or len(exact.as_tuple().digits) > _MAX_DIGITS:
        return None
    return int(exact) if exact == exact.to_integral_value() else float(exact)

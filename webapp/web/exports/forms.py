"""The export form: a date range, the formats to write and optional filters. No I/O.

The filters' choices are the user's own accounts, categories and kinds, which
the view offers (``offer``) from what their exports have seen.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

# WTForms ships no type hints; the second code keeps this clean once the
# project's mypy config ignores wtforms.* as it does flask_wtf.*.
from wtforms import (  # type: ignore[import-untyped, unused-ignore]
    DateField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    widgets,
)
from wtforms.validators import (  # type: ignore[import-untyped, unused-ignore]
    InputRequired,
    ValidationError,
)

from ...archive.dates import DateRange, check_range
from ...archive.errors import InvalidRange
from ...archive.filters import FIELDS, FilterError, Filters, checked
from ...archive.manifest import DEFAULT_ENCODING, DEFAULT_FORMATS, CsvEncoding, Format
from ...jobs.export import ExportParams
from ..formatting import KIND_LABELS, label_value
from ..i18n import translate_error

#: The earliest and latest dates the form accepts: four-digit years only, so a
#: mistyped "25-01-01" is refused rather than read as the year 25.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)

#: Form value -> the engine's formats.
FORMAT_CHOICES: dict[str, frozenset[Format]] = {
    "both": DEFAULT_FORMATS,
    "csv": frozenset({"csv"}),
    "json": frozenset({"json"}),
    "xlsx": frozenset({"xlsx"}),
    "xlsx-json": frozenset({"xlsx", "json"}),
    "all": frozenset({"csv", "xlsx", "json"}),
}
#: Form value -> the engine's CSV encoding.
ENCODING_CHOICES: dict[str, CsvEncoding] = {"utf-8": "utf-8-sig", "cp932": "cp932"}


class _DateField(DateField):  # type: ignore[misc, unused-ignore]
    """A date field that also reads full-width digits (Japanese input methods)."""

    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata([unicodedata.normalize("NFKC", v).strip() for v in valuelist])


def _in_bounds(form: FlaskForm, field: DateField) -> None:
    if field.data is not None and not MIN_DATE <= field.data <= MAX_DATE:
        raise ValidationError(
            _(
                "Enter a date between %(first)s and %(last)s.",
                first=MIN_DATE.isoformat(),
                last=MAX_DATE.isoformat(),
            )
        )


class _Checkboxes(SelectMultipleField):  # type: ignore[misc, unused-ignore]
    """Several values as checkboxes; any short text is accepted (the filter is harmless)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            checked(list(self.data or []))
        except FilterError as exc:
            raise ValidationError(translate_error(exc)) from None


class ExportForm(FlaskForm):  # type: ignore[misc]
    """Start and end dates (inclusive) and the formats of one export."""

    start = _DateField(
        _l("From"),
        validators=[InputRequired(_l("Enter the first day to export.")), _in_bounds],
        format=["%Y-%m-%d", "%Y/%m/%d"],
        invalid_value_message=_l("Enter a date like 2025-01-31."),
        render_kw={"min": MIN_DATE.isoformat(), "max": MAX_DATE.isoformat()},
    )
    end = _DateField(
        _l("To"),
        validators=[InputRequired(_l("Enter the last day to export.")), _in_bounds],
        format=["%Y-%m-%d", "%Y/%m/%d"],
        invalid_value_message=_l("Enter a date like 2025-12-31."),
        render_kw={"min": MIN_DATE.isoformat(), "max": MAX_DATE.isoformat()},
    )
    formats = RadioField(
        _l("Format"),
        choices=[
            SelectChoice("both", _l("CSV and DynamoDB JSON")),
            SelectChoice("csv", _l("CSV for Excel")),
            SelectChoice("json", _l("DynamoDB JSON (for an exact restore)")),
            SelectChoice("xlsx", _l("Excel workbook (.xlsx)")),
            SelectChoice("xlsx-json", _l("Excel workbook and DynamoDB JSON")),
            SelectChoice("all", _l("All three")),
        ],
        default="both",
        validators=[InputRequired(_l("Choose a format."))],
    )
    # Left out of a post (an older page), it is the default.
    csv_encoding = RadioField(
        _l("CSV encoding"),
        choices=[
            SelectChoice("utf-8", _l("UTF-8 (Excel)")),
            SelectChoice("cp932", _l("Shift_JIS (accounting software)")),
        ],
        default="utf-8",
    )
    accounts = _Checkboxes(_l("Accounts"), validate_choice=False)
    categories = _Checkboxes(_l("Categories"), validate_choice=False)
    kinds = _Checkboxes(_l("Kinds"), validate_choice=False)

    def __init__(self, *args: Any, max_span_days: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_span_days = max_span_days
        #: The checked range, once ``validate()`` has passed.
        self.date_range: DateRange | None = None

    def validate_end(self, field: DateField) -> None:
        """Refuse a reversed range or one longer than the allowed span (the core's one check)."""
        start, end = self.start.data, field.data
        if start is None or end is None:
            return
        try:
            self.date_range = check_range(start, end, max_span_days=self.max_span_days)
        except InvalidRange as exc:
            raise ValidationError(translate_error(exc)) from None

    def offer(self, vocabulary: dict[str, list[str]]) -> None:
        """Offer the user's own values as the filters' choices, keeping any already chosen."""
        for name in FIELDS:
            field = getattr(self, name)
            values = list(dict.fromkeys([*(vocabulary.get(name) or []), *(field.data or [])]))
            if name == "kinds":
                values = list(dict.fromkeys([*KIND_LABELS, *values]))
            field.choices = [SelectChoice(v, label_value(name, v)) for v in values]

    @property
    def chosen_filters(self) -> Filters:
        """Return the filters ticked (empty ones keep everything)."""
        return Filters(**{name: frozenset(getattr(self, name).data or ()) for name in FIELDS})

    @property
    def filtering(self) -> bool:
        """Return whether any filter is ticked or in error (the filters section opens)."""
        return bool(self.chosen_filters) or any(getattr(self, n).errors for n in FIELDS)

    @property
    def chosen_formats(self) -> frozenset[Format]:
        """Return the engine's formats for the chosen radio value."""
        return FORMAT_CHOICES.get(self.formats.data or "both", FORMAT_CHOICES["both"])

    @property
    def chosen_encoding(self) -> CsvEncoding:
        """Return the engine's CSV encoding for the chosen radio value (none without CSV)."""
        if "csv" not in self.chosen_formats:
            # The page dims the choice then; a post that sends one anyway changes nothing.
            return DEFAULT_ENCODING
        return ENCODING_CHOICES.get(self.csv_encoding.data or "utf-8", DEFAULT_ENCODING)

    @property
    def params(self) -> ExportParams:
        """Return the export job's parameters, once ``validate()`` has passed."""
        if self.date_range is None:
            raise ValueError("the form has not been validated")
        return ExportParams(
            start=self.date_range.start,
            end=self.date_range.end,
            formats=self.chosen_formats,
            csv_encoding=self.chosen_encoding,
            filters=self.chosen_filters,
        )


@dataclass(frozen=True)
class Preset:
    """A quick range offered as a plain link, so it works without JavaScript."""

    label: str
    start: date
    end: date


def presets(today: date, max_span_days: int) -> list[Preset]:
    """Return the quick ranges for ``today`` (in the display time zone)."""
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    years = max_span_days // 365
    longest = (
        ngettext("Last %(count)s year", "Last %(count)s years", years, count=format_decimal(years))
        if years > 1
        else ngettext(
            "Last %(count)s day",
            "Last %(count)s days",
            max_span_days,
            count=format_decimal(max_span_days),
        )
    )
    return [
        Preset(_("This month"), first_of_month, today),
        Preset(_("Last month"), last_month_end.replace(day=1), last_month_end),
        Preset(_("This year"), date(today.year, 1, 1), today),
        Preset(_("Last year"), date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        Preset(longest, today - timedelta(days=max_span_days - 1), today),
    ]

"""README.txt of an archive: what each file is and how to restore, in English and Japanese.

The words live in ``resources/readme.txt`` (a text resource, one section per
block), so they can be read and edited as text; this module only picks the
sections an archive needs and fills in its period and creation time (in the
page's time zone, with UTC beside it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

from .ids import ArchiveId

LANGUAGES = ("en", "ja")
#: The filter fields (see ``filters``) in each language, and how values are joined.
FILTER_WORDS = {
    "en": ({"accounts": "account", "categories": "category", "kinds": "kind"}, " or ", "; "),
    "ja": ({"accounts": "口座", "categories": "費目", "kinds": "種類"}, "・", "、"),
}
#: The account book's own values, in Japanese (what the household typed stays as typed),
#: as the site's glossary names them (webapp/translations/GLOSSARY.md).
VALUE_WORDS = {
    "ja": {
        "expense": "支出",
        "income": "収入",
        "transfer": "振替",
        "cash": "現金",
        "bank": "銀行",
        "card": "カード",
    },
}
SEPARATOR = "-" * 40
NEWLINE = "\r\n"


@cache
def _sections() -> dict[tuple[str, str], str]:
    """Return the resource's sections by (language, name)."""
    text = files(__package__).joinpath("resources/readme.txt").read_text(encoding="utf-8")
    sections: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@ "):
            language, name = line[3:].split()
            current = sections.setdefault((language, name), [])
        elif current is not None:
            current.append(line)
    return {key: NEWLINE.join(lines) for key, lines in sections.items()}


def render_readme(
    archive_id: ArchiveId,
    *,
    csv: bool,
    json: bool,
    xlsx: bool = False,
    cp932: bool = False,
    timezone: str = "UTC",
    filters: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Return README.txt for an archive holding CSV, workbook and/or JSON files.

    ``timezone`` is the page's display time zone (``DISPLAY_TIMEZONE``): the
    creation time is shown in it, as the page lists the archive, with UTC beside.
    ``filters`` (``Filters.to_dict``) adds a section saying what the archive kept.
    """
    names = ["head"]
    names += ["filtered"] if filters else []
    names += [("csv-cp932" if cp932 else "csv")] if csv else []
    names += ["json"] if json else []
    names += ["xlsx"] if xlsx else []
    names += ["manifest", "restore" if json else "no-restore"]
    fields = {
        "period": f"{archive_id.start.isoformat()} – {archive_id.end.isoformat()}",
        "created": _created(archive_id, timezone),
    }
    sections = _sections()
    blocks = [
        NEWLINE.join(
            sections[(language, name)].format(**fields, filters=_filters(language, filters))
            for name in names
        )
        for language in LANGUAGES
    ]
    return (NEWLINE + SEPARATOR + NEWLINE + NEWLINE).join(blocks)


def _filters(language: str, filters: Mapping[str, Sequence[str]] | None) -> str:
    """Return the filters in ``language``: "account cash or card; kind expense"."""
    words, alternative, joiner = FILTER_WORDS[language]
    named = VALUE_WORDS.get(language, {})
    return joiner.join(
        f"{words[field]} {alternative.join(named.get(value, value) for value in values)}"
        for field, values in (filters or {}).items()
        if values
    )


def _created(archive_id: ArchiveId, timezone: str) -> str:
    """Return the creation time in ``timezone`` with UTC beside it (UTC alone if the same)."""
    utc = f"{archive_id.created.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    local = archive_id.created.astimezone(ZoneInfo(timezone))
    if timezone in ("UTC", "Etc/UTC"):
        return utc
    return f"{local:%Y-%m-%d %H:%M:%S} {local:%Z} ({timezone}) = {utc}"

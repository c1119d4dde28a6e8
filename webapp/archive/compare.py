"""Compare an archive's items with a table's current items, both in sort-key order.

A merge of two sorted streams: memory stays constant whatever the sizes. Each
key ends up in one of four kinds: ``new`` (only in the archive), ``changed`` (in
both, different), ``unchanged`` (in both, equal) and ``extra`` (only in the table:
kept by a merge restore, deleted by a replace). Values compare as DynamoDB means
them: numbers by value, sets regardless of order.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import N_
from ..model import SORT_KEY
from .errors import DamagedArchive
from .state import PeriodState

Item = dict[str, Any]
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
Kind = Literal["new", "changed", "unchanged", "extra"]
#: Samples of each kind (new, changed, to be deleted or kept) a preview shows, per table.
EXAMPLES = 5
#: Longest value text an example shows.
SHOWN_CHARACTERS = 80


@dataclass(frozen=True)
class Change:
    """One attribute that differs: its text now and in the archive (None: absent)."""

    name: str
    now: str | None
    archived: str | None


@dataclass(frozen=True)
class Sample:
    """One item as a person knows it (its ``shown`` fields), and what would change in it."""

    fields: dict[str, str]
    #: For a changed item: the shown fields that differ, now and in the archive.
    changes: list[Change] = field(default_factory=list)
    #: For a changed item: whether other attributes (not shown) differ too.
    other: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the sample as plain data (for a job record)."""
        return {
            "fields": self.fields,
            "changes": [[c.name, c.now, c.archived] for c in self.changes],
            "other": self.other,
        }


@dataclass
class TableDiff:
    """What a restore of one table would do: counted, with a few samples of each kind."""

    #: The fields a person knows an item of this table by (``TableSpec.shown``).
    shown: tuple[str, ...] = ()
    archived: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    extra: int = 0
    samples: dict[Kind, list[Sample]] = field(
        default_factory=lambda: {"new": [], "changed": [], "extra": []}
    )
    state: PeriodState = field(default_factory=PeriodState)

    def to_dict(self) -> dict[str, Any]:
        """Return the counts, samples and state as plain data (for a job record)."""
        return {
            "archived": self.archived,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "extra": self.extra,
            "samples": {k: [s.to_dict() for s in v] for k, v in self.samples.items()},
            "state": self.state.to_dict(),
        }


def pair(
    archived: Iterable[Item], current: Iterable[Item], *, low: str, high: str, file: str = ""
) -> Iterator[tuple[Kind, Item | None, Item | None]]:
    """Yield ``(kind, archived item, current item)`` for every key of either stream.

    ``archived`` must be in ascending sort-key order, each key between ``low``
    and ``high`` (the archive's period); anything else is refused, since a
    restore only ever writes inside the period it read. ``file`` names the
    archive's file the items come from, for the refusal.
    """
    items = iter(current)
    now = next(items, None)
    previous: str | None = None
    for item in archived:
        sk = item[SORT_KEY]["S"]
        if not low <= sk <= high:
            raise DamagedArchive(
                N_("the item with sk %(sk)s lies outside the archive's period"),
                sk=repr(sk),
                file=file,
            )
        if previous is not None and sk <= previous:
            raise DamagedArchive(
                N_("the items are not in sort-key order at sk %(sk)s: the archive is damaged"),
                sk=repr(sk),
                file=file,
            )
        previous = sk
        while now is not None and now[SORT_KEY]["S"] < sk:
            yield "extra", None, now
            now = next(items, None)
        if now is not None and now[SORT_KEY]["S"] == sk:
            yield ("unchanged" if same_item(item, now) else "changed"), item, now
            now = next(items, None)
        else:
            yield "new", item, None
    while now is not None:
        yield "extra", None, now
        now = next(items, None)


def count(diff: TableDiff, kind: Kind, archived: Item | None, now: Item | None) -> None:
    """Add one paired key to ``diff``; keep the first few of each kind as samples."""
    if archived is not None:
        diff.archived += 1
    if now is not None:
        diff.state.see(now)
    setattr(diff, kind, getattr(diff, kind) + 1)
    samples = diff.samples.get(kind)
    if samples is None or len(samples) >= EXAMPLES:
        return
    item = archived if archived is not None else now
    assert item is not None
    sample = Sample(_shown(item, diff.shown))
    if kind == "changed" and archived is not None and now is not None:
        differing = changes(now, archived)
        sample = Sample(
            sample.fields,
            [c for c in differing if c.name in diff.shown],
            any(c.name not in diff.shown for c in differing),
        )
    samples.append(sample)


def _shown(item: Item, names: tuple[str, ...]) -> dict[str, str]:
    shown = {name: text for name in names if (text := show(item.get(name))) is not None}
    if "date" in names and "date" not in shown:
        # Every sort key begins with the item's ISO date: the day, never the key itself.
        day = str(item.get(SORT_KEY, {}).get("S", ""))[:10]
        if _ISO_DAY.fullmatch(day):
            shown["date"] = day
    return shown


def changes(now: Item, archived: Item) -> list[Change]:
    """Return the attributes that differ between two versions of an item, by name."""
    names = sorted(set(now) | set(archived))
    return [
        Change(name, show(now.get(name)), show(archived.get(name)))
        for name in names
        if not same_value(now.get(name), archived.get(name))
    ]


def same_item(a: Item, b: Item) -> bool:
    """Return whether two items are equal as DynamoDB means it."""
    return a.keys() == b.keys() and all(same_value(a[name], b[name]) for name in a)


def same_value(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Return whether two typed values are equal (numbers by value, sets unordered)."""
    if a is None or b is None:
        return a is b
    return bool(_normal(a) == _normal(b))


def _normal(value: dict[str, Any]) -> Any:
    (kind, raw), *_ = value.items()
    if kind == "N":
        return ("N", _number(raw))
    if kind == "NS":
        return ("NS", frozenset(_number(v) for v in raw))
    if kind == "SS":
        return ("SS", frozenset(raw))
    if kind == "BS":
        return ("BS", frozenset(_bytes(v) for v in raw))
    if kind == "B":
        return ("B", _bytes(raw))
    if kind == "M":
        return ("M", tuple(sorted((k, _normal(v)) for k, v in raw.items())))
    if kind == "L":
        return ("L", tuple(_normal(v) for v in raw))
    return (kind, raw)


def _number(text: str) -> Decimal | str:
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def _bytes(value: bytes | str) -> bytes:
    # The table gives bytes; an archive line decoded by ``decode`` gives bytes too.
    return value if isinstance(value, bytes) else base64.b64decode(value)


def show(value: dict[str, Any] | None) -> str | None:
    """Return a short text of a typed value for a preview (None if absent)."""
    if value is None:
        return None
    (kind, raw), *_ = value.items()
    if kind in ("S", "N"):
        text = str(raw)
    elif kind == "BOOL":
        text = "true" if raw else "false"
    elif kind == "NULL":
        text = "null"
    elif kind == "B":
        text = f"<{len(_bytes(raw))} bytes>"
    else:
        text = json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _plain(value: dict[str, Any]) -> Any:
    (kind, raw), *_ = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in raw.items()}
    if kind == "L":
        return [_plain(v) for v in raw]
    if kind in ("B", "BS"):
        return "<binary>"
    return raw

"""Export filters: only some accounts, categories or kinds of slip, applied by DynamoDB.

A filter never changes how the items are read: each table is still the one
Query on its key, and the filter is that Query's ``FilterExpression``. Within a
field the values are alternatives (``account IN (...)``), across fields they
all apply. Balances have an account but no category or kind, so they follow
the account filter only.

The filters travel as a plain dict (job parameters, the manifest) and come back
through ``Filters.from_dict``, which refuses anything but short lists of text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import N_, UserError
from ..model import TableName

#: DynamoDB allows at most 100 values in one ``IN``.
MAX_VALUES = 100
#: Longer than any account, category or kind a person would type.
MAX_LENGTH = 200

#: Field name in job parameters and the manifest -> the item attribute it tests.
FIELDS: dict[str, str] = {"accounts": "account", "categories": "category", "kinds": "kind"}
#: The fields that apply to each table's items.
APPLIES: dict[TableName, tuple[str, ...]] = {
    "slips": ("accounts", "categories", "kinds"),
    "balances": ("accounts",),
}


class FilterError(UserError):
    """The filters are not short lists of text; ``str()`` says what is wrong."""


@dataclass(frozen=True)
class Filters:
    """The values to keep per field; an empty field keeps everything."""

    accounts: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.categories or self.kinds)

    def values(self, name: str) -> frozenset[str]:
        """Return the chosen values of one field ("accounts", "categories" or "kinds")."""
        chosen: frozenset[str] = getattr(self, name)
        return chosen

    def to_dict(self) -> dict[str, list[str]]:
        """Return the non-empty fields as sorted lists: job parameters and the manifest."""
        return {name: sorted(self.values(name)) for name in FIELDS if self.values(name)}

    @classmethod
    def from_dict(cls, raw: object) -> Filters:
        """Return the filters in ``raw`` (``to_dict``'s shape); refuse anything else."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping) or not set(raw) <= set(FIELDS):
            raise FilterError(N_("The filters could not be read."))
        fields: dict[str, frozenset[str]] = {}
        for name, values in raw.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise FilterError(N_("The filters could not be read."))
            fields[name] = checked(values)
        return cls(**fields)

    def expression(self, table: TableName) -> tuple[str, dict[str, str], dict[str, Any]] | None:
        """Return ``(FilterExpression, names, typed values)`` for a Query of ``table``, or None."""
        clauses: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        for index, name in enumerate(APPLIES[table]):
            chosen = sorted(self.values(name))
            if not chosen:
                continue
            names[f"#f{index}"] = FIELDS[name]
            placeholders = []
            for position, value in enumerate(chosen):
                placeholder = f":f{index}_{position}"
                values[placeholder] = {"S": value}
                placeholders.append(placeholder)
            clauses.append(f"#f{index} IN ({', '.join(placeholders)})")
        if not clauses:
            return None
        return " AND ".join(clauses), names, values


#: Distinct values an export remembers per field for the form's choices.
MAX_SEEN = 500


def collect(seen: dict[str, set[str]], items: list[dict[str, Any]]) -> None:
    """Add the accounts, categories and kinds of ``items`` (typed values) to ``seen``."""
    for name, attribute in FIELDS.items():
        found = seen.setdefault(name, set())
        if len(found) >= MAX_SEEN:
            continue
        for item in items:
            value = item.get(attribute, {}).get("S")
            if value and len(value) <= MAX_LENGTH:
                found.add(value)


def checked(values: list[str]) -> frozenset[str]:
    """Return ``values`` as a set; refuse too many, empty or overlong ones."""
    chosen = frozenset(values)
    if len(chosen) > MAX_VALUES:
        raise FilterError(
            N_("Choose at most %(count)s values for one filter."), count=str(MAX_VALUES)
        )
    if any(not value or len(value) > MAX_LENGTH for value in chosen):
        raise FilterError(N_("A filter value is empty or too long."))
    return chosen

"""The state a preview saw: one digest of a period's items, checked again before a restore writes.

A preview reads the user's items in the archive's period anyway, to compare them
with the archive; it also records how many there are and one SHA-256 over all of
them (``PeriodState``). The restore it leads to reads the table again and, before
it writes anything, checks that each table is still in that state: so it writes
exactly what the preview showed, and refuses (``StateChanged``) when a slip was
added, changed or deleted in the period since. The page keeps each table's state
in the preview's record (``same_states``); the command line prints a short code
of them (``check_code``) for ``restore --check`` (``same_code``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import N_
from .errors import StateChanged

if TYPE_CHECKING:
    from .reader import ArchiveReader

Item = dict[str, Any]


@dataclass
class PeriodState:
    """What a table holds in the period now: how many items, and one digest of them all.

    A preview records it; the restore it leads to reads the table again and refuses
    to write if the state differs, so it writes exactly what the preview showed.
    """

    count: int = 0
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)

    def see(self, item: Item) -> None:
        """Take one current item, in sort-key order."""
        self.count += 1
        self._digest.update(canonical(item) + b"\n")

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain data (for a job record)."""
        return {"count": self.count, "sha256": self._digest.hexdigest()}


def canonical(item: Item) -> bytes:
    """Return an item's bytes for a digest: the same data gives the same bytes, sets sorted."""
    plain = {name: _canonical(value) for name, value in item.items()}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical(value: dict[str, Any]) -> Any:
    (kind, raw), *_ = value.items()
    if kind in ("SS", "NS"):
        return {kind: sorted(raw)}
    if kind == "B":
        return {kind: base64.b64encode(_raw_bytes(raw)).decode()}
    if kind == "BS":
        return {kind: sorted(base64.b64encode(_raw_bytes(v)).decode() for v in raw)}
    if kind == "M":
        return {kind: {k: _canonical(v) for k, v in raw.items()}}
    if kind == "L":
        return {kind: [_canonical(v) for v in raw]}
    return {kind: raw}


def _raw_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


#: Checks each table's state now against what a preview saw; raises ``StateChanged``.
StateCheck = Callable[[Mapping[Any, Mapping[str, Any]]], None]


def same_states(seen: Mapping[str, Mapping[str, Any]]) -> StateCheck:
    """Return a check that each table is in the state a preview recorded (``TableDiff.state``)."""

    def check(now: Mapping[Any, Mapping[str, Any]]) -> None:
        for table, state in now.items():
            if dict(state) != dict(seen.get(table) or {}):
                raise StateChanged(
                    N_("%(table)s: the period holds other items than when it was checked"),
                    table=table,
                )

    return check


def check_code(reader: ArchiveReader, states: Mapping[Any, Mapping[str, Any]]) -> str:
    """Return a short code for "this archive, against the tables as they are now"."""
    digest = hashlib.sha256(reader.raw_manifest)
    digest.update(json.dumps(states, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def same_code(reader: ArchiveReader, code: str) -> StateCheck:
    """Return a check that the archive and the tables are still what ``code`` was made of."""

    def check(now: Mapping[Any, Mapping[str, Any]]) -> None:
        if not hmac.compare_digest(check_code(reader, now), code):
            raise StateChanged(
                N_("the archive or its period's items are not what the check code was made of")
            )

    return check

"""Decode and check DynamoDB JSON: one ``{"Item": {...}}`` line at a time.

Every value is checked against DynamoDB's own rules before anything is written:
type descriptors, key presence and sizes, number precision and range, nesting
depth and the 400 KB item size. Binary values come back as bytes, ready for the
low-level client.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any

from ..errors import N_
from ..model import PARTITION_KEY, SORT_KEY
from .errors import DamagedArchive

# DynamoDB's own limits (Developer Guide, "Service quotas"): item size, key
# sizes, nesting depth, number precision and range.
MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_DEPTH = 32
MAX_DIGITS = 38
MIN_EXPONENT, MAX_EXPONENT = -130, 125
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

Item = dict[str, Any]


class DecodeError(DamagedArchive):
    """A line is not a valid DynamoDB item; ``str()`` says where and why."""

    def __init__(self, message: str, **fields: object) -> None:
        # ``where`` is "<file>:<line>[: attribute]": the file is what the person knows.
        fields.setdefault("file", str(fields.get("where", "")).split(":", 1)[0])
        super().__init__(message, **fields)


def decode_line(line: bytes, where: str) -> Item:
    """Return the item of one ``{"Item": {...}}`` line, ready for the low-level client."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: "[[[[…" thousands deep, far past anything DynamoDB stores.
        raise DecodeError(N_("%(where)s: not a line of DynamoDB JSON"), where=where) from None
    if not isinstance(data, dict) or set(data) != {"Item"} or not isinstance(data["Item"], dict):
        raise DecodeError(N_('%(where)s: expected one {"Item": {...}} object'), where=where)
    item = {name: decode_value(value, f"{where}: {name}") for name, value in data["Item"].items()}
    for key, limit in ((PARTITION_KEY, MAX_PARTITION_KEY_BYTES), (SORT_KEY, MAX_SORT_KEY_BYTES)):
        value = item.get(key)
        if value is None or "S" not in value or not value["S"]:
            raise DecodeError(
                N_("%(where)s: the key %(key)s must be a non-empty string"), where=where, key=key
            )
        if len(value["S"].encode("utf-8")) > limit:
            raise DecodeError(
                N_("%(where)s: the key %(key)s is longer than %(limit)s bytes"),
                where=where,
                key=key,
                limit=limit,
            )
    check_size(item, where)
    return item


def decode_value(value: object, where: str, depth: int = 1) -> dict[str, Any]:
    """Check one typed attribute value; turn base64 text into bytes for B and BS."""
    if not isinstance(value, dict) or len(value) != 1:
        raise DecodeError(
            N_("%(where)s: expected one type descriptor such as {'S': ...}"), where=where
        )
    if depth > MAX_DEPTH:
        raise DecodeError(
            N_("%(where)s: nested deeper than DynamoDB's %(depth)s levels"),
            where=where,
            depth=MAX_DEPTH,
        )
    (kind, raw), *_ = value.items()
    if kind == "S" and isinstance(raw, str):
        return {"S": raw}
    if kind == "N" and isinstance(raw, str):
        _check_number(raw, where)
        return {"N": raw}
    if kind == "B" and isinstance(raw, str):
        return {"B": _binary(raw, where)}
    if kind == "BOOL" and isinstance(raw, bool):
        return {"BOOL": raw}
    if kind == "NULL" and raw is True:
        return {"NULL": True}
    if kind == "M" and isinstance(raw, dict):
        return {"M": {str(k): decode_value(v, f"{where}.{k}", depth + 1) for k, v in raw.items()}}
    if kind == "L" and isinstance(raw, list):
        return {"L": [decode_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(raw)]}
    if kind in ("SS", "NS", "BS") and isinstance(raw, list) and raw:
        if not all(isinstance(v, str) for v in raw):
            raise DecodeError(
                N_("%(where)s: a %(kind)s set holds something other than text"),
                where=where,
                kind=kind,
            )
        if kind == "SS":
            members: list[Any] = list(raw)
            unique: set[Any] = set(raw)
        elif kind == "NS":
            members = list(raw)
            unique = {_check_number(v, where) for v in raw}
        else:
            members = [_binary(v, where) for v in raw]
            unique = set(members)
        if len(unique) != len(members):
            raise DecodeError(
                N_("%(where)s: a %(kind)s set holds the same value twice"), where=where, kind=kind
            )
        return {kind: members}
    raise DecodeError(
        N_("%(where)s: %(kind)s with this value is not a DynamoDB type"),
        where=where,
        kind=repr(kind),
    )


def _check_number(text: str, where: str) -> Decimal:
    # Decimal() alone would also take " 1", "1_000", "Infinity" and non-ASCII digits.
    if not _NUMBER.fullmatch(text):
        raise DecodeError(
            N_("%(where)s: %(text)s is not a number"), where=where, text=repr(text[:50])
        )
    number = Decimal(text)
    # Zero has no exponent worth checking ("0E-200" is just 0).
    in_range = MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT
    if number and (_digits(number) > MAX_DIGITS or not in_range):
        raise DecodeError(
            N_("%(where)s: %(text)s is beyond DynamoDB's number range"),
            where=where,
            text=repr(text[:50]),
        )
    return number


def _digits(number: Decimal) -> int:
    # Significant digits, as DynamoDB counts them (leading and trailing zeros
    # trimmed); Decimal.normalize() would round to the context's 28 digits.
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits)


def _binary(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(N_("%(where)s: binary value is not base64"), where=where) from None


def check_size(item: Item, where: str) -> None:
    size = sum(len(name.encode("utf-8")) + _size(value) for name, value in item.items())
    if size > MAX_ITEM_BYTES:
        raise DecodeError(N_("%(where)s: the item is larger than DynamoDB's 400 KB"), where=where)


def _size(value: dict[str, Any]) -> int:
    # DynamoDB's documented sizing: text as UTF-8, about one byte per two digits
    # of a number, raw bytes of binaries, 3 bytes plus one per element of a
    # list or map.
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return (_digits(Decimal(raw)) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(_size({"N": v}) for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _size(v) for k, v in raw.items())
    return 3 + sum(1 + _size(v) for v in raw)

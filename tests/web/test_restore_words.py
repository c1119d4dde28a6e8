"""Every refusal of a restore, in Japanese, speaks Japanese: file and format names only in Latin.

A household reading Japanese must not meet "The archive は…" or "manifest の SHA-256":
each message for people (a refusal class's ``summary``) and each technical detail
that can reach the restore pages (every ``N_`` message raised on the restore path)
is rendered in Japanese, with stand-in values for its fields, and read for words
in Latin letters. Only file names (``slips.json``), format names (CSV, JSON,
DynamoDB JSON, Excel, zip) and the values the person's data put in survive.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from flask import Flask
from support import OFFLINE

from webapp import create_app
from webapp.archive import errors as archive_errors
from webapp.archive.signing import SignatureError
from webapp.errors import UserError
from webapp.web.i18n import translate_message

ROOT = Path(__file__).resolve().parents[2]
#: The modules a restore's refusals come from (the command line's own words stay English).
RESTORE_PATH = [
    "webapp/archive/reader.py",
    "webapp/archive/manifest.py",
    "webapp/archive/decode.py",
    "webapp/archive/compare.py",
    "webapp/archive/signing.py",
    "webapp/archive/dynamo.py",
    "webapp/archive/restore.py",
    "webapp/archive/state.py",
    "webapp/jobs/sources.py",
    "webapp/jobs/restore.py",
]
#: Words a Japanese page may keep in Latin letters: format names and the like.
ALLOWED = {"CSV", "JSON", "Excel", "zip", "PC", "Shift_JIS"}
FILE_NAME = re.compile(r"[\w.-]+\.(?:json|txt|csv|zip|xlsx|sig)\b")
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: A stand-in for each field (it is data, left out of the reading).
SAMPLES = {
    "file": "slips.json",
    "where": "slips.json:31",
    "entry": "notes.txt",
}


def _messages() -> list[str]:
    found: list[str] = []
    for name in RESTORE_PATH:
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "N_"
                and isinstance(node.args[0], ast.Constant)
                and not str(node.args[0].value).startswith("--as-user")  # the command's own
            ):
                found.append(str(node.args[0].value))
    summaries = [
        cls.summary
        for _, cls in inspect.getmembers(archive_errors, inspect.isclass)
        if issubclass(cls, UserError) and cls.summary
    ]
    return sorted(set(found) | set(summaries) | {str(SignatureError.summary)})


MESSAGES = _messages()


@pytest.fixture(scope="module")
def app() -> Flask:
    """Return an app that never reaches AWS: only its catalogs are read."""
    return create_app(OFFLINE)


def test_the_restore_path_has_the_messages_this_test_reads() -> None:
    # The reading below is only as good as the list: it holds every kind of refusal.
    assert len(MESSAGES) > 60
    assert any("SHA-256" in message for message in MESSAGES)
    assert any("changed or damaged after it was exported" in message for message in MESSAGES)


def latin_words(text: str, values: list[str]) -> list[str]:
    """Return the Latin-letter words of ``text`` that are neither data nor names we allow."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, " ")
    text = FILE_NAME.sub(" ", text.replace("DynamoDB JSON", " "))
    return [word for word in LATIN.findall(text) if word not in ALLOWED]


@pytest.mark.parametrize("message", MESSAGES)
def test_each_restore_refusal_reads_as_japanese(app: Flask, message: str) -> None:
    fields = {name: SAMPLES.get(name, f"<{name}>") for name in re.findall(r"%\((\w+)\)s", message)}
    with app.test_request_context("/", headers={"Accept-Language": "ja"}):
        japanese = translate_message(message, fields)
    assert japanese != message, "not translated"
    assert not latin_words(japanese, [str(v) for v in fields.values()]), japanese
    assert japanese.endswith(("。", "す", "ん", "た")) or message[-1] not in ".", japanese


def test_the_reading_finds_english_left_in_japanese() -> None:
    assert latin_words("The archive は zip ではありません", []) == ["The", "archive"]
    assert latin_words("manifest.json の SHA-256 が違います", []) == ["SHA"]
    assert latin_words("slips.json:31：<sk> が二重です", ["slips.json:31", "<sk>"]) == []

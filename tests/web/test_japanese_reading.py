"""Every page and every message, read as a person who reads Japanese first reads them (issue 26).

Two readings. The catalog: every ``msgstr`` of the Japanese catalog, filled with stand-in
values, against the glossary's rules (``webapp/translations/GLOSSARY.md``). The pages: one
household's way through the whole site (sign-in and its challenges, password reset, the
account page, exports in every job state, a restore's upload, check, result, undo and its
refusals, automatic backups, the error pages 400–503), drawn in Japanese and in English and
read for what the other language left behind: on a Japanese page, Latin words other than
names, half-width punctuation, a second range sign, spaces before particles; on an English
page, any Japanese besides the language switch and the household's own data.

The counts of what was read are written to ``test-artifacts/japanese-reading.txt``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask, abort
from flask.testing import FlaskClient
from support import AuthActions, csrf_token
from werkzeug.test import TestResponse

from webapp.archive.dynamo import put_items
from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.jobs.dispatcher import run_schedule
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "webapp" / "translations" / "ja" / "LC_MESSAGES" / "messages.po"
ARTIFACTS = ROOT / "test-artifacts"

# --- the rules ----------------------------------------------------------------------------------

#: Names that keep their Latin letters in Japanese text (GLOSSARY.md, "Latin letters").
NAMES = {"Excel", "CSV", "JSON", "DynamoDB", "PC", "zip", "QR", "UTF-8", "Shift_JIS", "cp932"}
NAMES |= {"BOM", "SHA-256", "xlsx", "freee", "KB", "MB", "GB", "TB", "English"}
#: Names of several words, taken out before the words are read.
PHRASES = ("Google Authenticator", "Microsoft Authenticator", "1Password")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)*")
FILE_NAME = re.compile(r"[\w.-]*\.(?:json|txt|csv|zip|xlsx|sig)\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: The authenticator app's set-up link, shown as it is for a person to copy.
URI = re.compile(r"otpauth://\S+")
KANJI_KANA = "\u3041-\u309f\u30a1-\u30ff\u3400-\u4dbf\u4e00-\u9fff々"
JAPANESE = re.compile(f"[{KANJI_KANA}\u3000-\u303f\uff01-\uff5e]")
#: The site's mark beside its name (a picture in a letter, the same in both languages).
BRAND_MARK = "家"
#: What stands for data taken out of a text (neither a word nor Japanese).
DATA = "\u25a1"
#: What Japanese text never holds, and why (the glossary's style rules).
PUNCTUATION = {
    "?": "half-width ？",
    "!": "half-width ！",
    "(": "half-width （",
    ")": "half-width ）",
    "“": "“ ” instead of 「」",
    "”": "“ ” instead of 「」",
    '"': '" instead of 「」',
    "–": "– instead of ～",
    "〜": "〜 instead of ～",
    "~": "~ instead of ～",
    ", ": "', ' instead of 、",
    " 。": "a space before 。",
    " 、": "a space before 、",
}
SPACING = [
    (
        re.compile(f"(?<![\\w-])[0-9][0-9,.]* +[{KANJI_KANA}]"),
        "a space between a number and its Japanese unit",
    ),
    (re.compile(f"[{KANJI_KANA}] +[{KANJI_KANA}]"), "a space between two Japanese words"),
    (re.compile(r"(?<![0-9]):|:(?![0-9])"), "half-width ： outside a time"),
]
#: Words of one concept that the glossary names otherwise: what to write instead.
VARIANTS = {
    "テーブル": "表 (or 伝票・残高)",
    "リセット": "再設定",
    "仮のパスワード": "仮パスワード",
    "ブラウザー": "端末",
    "復元前の確認": "確認",
    "片付け": "一覧から外す",
    "項目を書き込": "データを書き込む",
    "(もう)": "もう",
    "読む用": "読むための",
    "いまは": "今は",
    "はじめから": "最初から",
    "一部の項目": "一部のデータ",
}
#: How a sentence ends in です／ます.
POLITE = re.compile(r"(です|ます|ません|ました|でした|ください|ませんか)(（[^（）]*）)?[。？]$")
#: A character or word quoted for the person to type or recognise: 「?」, 「#」.
QUOTED = re.compile(f"「[^「」{KANJI_KANA}]+」")


def strip_data(text: str, data: Iterable[str]) -> str:
    """Return ``text`` without the household's data, names, file names and addresses."""
    for value in sorted({v for v in data if v}, key=len, reverse=True):
        text = text.replace(value, DATA)
    text = QUOTED.sub(DATA, text)
    text = URI.sub(DATA, text)
    text = EMAIL.sub(DATA, text)
    text = FILE_NAME.sub(DATA, text)
    for phrase in PHRASES:
        text = text.replace(phrase, DATA)
    return text


def japanese_problems(text: str, data: Iterable[str] = ()) -> list[str]:
    """Return what breaks the glossary's rules in one piece of Japanese text."""
    text = strip_data(text, data)
    found = [f"Latin word {w!r}" for w in LATIN_WORD.findall(text) if w not in NAMES]
    found += [why for sign, why in PUNCTUATION.items() if sign in text]
    found += [why for pattern, why in SPACING if pattern.search(text)]
    found += [f"{word} instead of {better}" for word, better in VARIANTS.items() if word in text]
    return [f"{problem}: {text.strip()!r}" for problem in found]


def english_problems(text: str, data: Iterable[str] = ()) -> list[str]:
    """Return the Japanese an English page shows besides the switch and the household's data."""
    text = strip_data(text, [*data, "日本語", BRAND_MARK])
    return [f"Japanese {m!r}: {text.strip()!r}" for m in JAPANESE.findall(text)]


class Visible(HTMLParser):
    """Collect what a person reads or hears, one text node (or attribute) at a time."""

    ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label")

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        self.chunks += [values[name] or "" for name in self.ATTRIBUTES if name in values]
        if tag == "input" and values.get("type") in ("submit", "button"):
            self.chunks.append(values.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(re.sub(r"\s+", " ", data))


def chunks_of(page: TestResponse) -> list[str]:
    parser = Visible()
    parser.feed(page.get_data(as_text=True))
    return parser.chunks


def test_the_rules_find_what_the_reader_found() -> None:
    # The examples of issue 26, each caught.
    assert japanese_problems("The archive は zip アーカイブではありません")
    assert japanese_problems("伝票 1,556件 と 残高 72件")
    assert japanese_problems("時刻は 日本時間 です")
    assert japanese_problems("削除しますか?")
    assert japanese_problems("2025年1月1日 – 2025年12月31日")
    assert japanese_problems("金額 amount")
    assert japanese_problems("すべてのブラウザーでサインアウトしました。")
    assert japanese_problems("アーカイブ (.zip)")
    assert japanese_problems("7 日後")
    assert english_problems("Restore of 復元")
    # What stays: names, file names, data, times.
    assert not japanese_problems("slips.json の内容が SHA-256 と一致しません。")
    assert not japanese_problems("伝票 1,556件と残高 72件（22 KB）、14:05。", ["x"])
    assert not japanese_problems("ランチ cash", ["ランチ cash"])
    assert not english_problems("Choose 日本語 or English.")


# --- the catalog ----------------------------------------------------------------------------------

#: A stand-in for each field of a message: what the page would put there.
SAMPLES = {
    "count": "3", "num": "3", "days": "7", "max": "400", "most": "1,048,576", "keep": "12",
    "minutes": "30", "seconds": "2.4", "ratio": "1,000", "size": "22 KB", "limit": "100",
    "listed": "3", "shown": "5", "total": "12", "depth": "32", "wrote": "3", "deleted": "1",
    "when": "2026年12月2日 14:05", "start": "2025年1月1日", "end": "2025年12月31日",
    "first": "2000年1月1日", "last": "2099年12月31日", "slips": "伝票 3件",
    "balances": "残高 2件", "table": "伝票", "zone": "日本時間", "field": "口座",
    "values": "現金、銀行", "filters": "口座：現金", "rules": "8文字以上", "kinds": "数字",
    "source": "PCのファイル", "title": "ページが見つかりません", "code": "404",
    "now": "￥1,200", "archived": "￥1,300", "details": "詳細",
}  # fmt: skip
#: Fields whose values are names, data or technical text (read as data, never as words).
DATA_FIELDS = {"file", "entry", "email", "name", "where", "sk", "key", "detail", "reason"}
DATA_FIELDS |= {"method", "version", "known", "owner", "what", "text", "kind"}


def catalog() -> list[tuple[str, str]]:
    """Return every (msgid, msgstr) of the Japanese catalog, plural forms one by one."""
    with CATALOG.open("rb") as fh:
        read = read_po(fh, locale="ja")
    pairs = []
    for message in read:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        pairs += [(str(ids[0]), str(s)) for s in strings]
    return pairs


MESSAGES = [(i, s) for i, s in catalog() if not i.startswith("--as-user")]  # the command's own


def fill(msgstr: str) -> tuple[str, list[str]]:
    """Return ``msgstr`` with stand-ins in its fields, and the stand-ins that are data."""
    data = {n: f"<{n}>" for n in re.findall(r"%\((\w+)\)[sd]", msgstr) if n in DATA_FIELDS}
    values = {**SAMPLES, **data}
    filled = re.sub(r"%\((\w+)\)[sd]", lambda m: values.get(m.group(1), "3"), msgstr)
    return filled.replace("<strong>", "").replace("</strong>", ""), list(data.values())


@pytest.mark.parametrize(("msgid", "msgstr"), MESSAGES, ids=[i[:60] for i, _ in MESSAGES])
def test_each_message_follows_the_glossary(msgid: str, msgstr: str) -> None:
    filled, data = fill(msgstr)
    assert japanese_problems(filled, data) == []
    if msgid.endswith("."):
        assert filled.endswith("。"), "a sentence ends in 。"
    if msgid.endswith("?"):
        assert filled.endswith("？")
    if filled.endswith("。"):
        assert POLITE.search(filled), "です／ます"


def test_the_catalog_is_read_whole() -> None:
    assert len(MESSAGES) > 350
    _record("catalog", f"{len(MESSAGES)} messages of the Japanese catalog (plural forms apart)")


def _record(name: str, line: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "japanese-reading.txt"
    lines = (
        dict(row.split(": ", 1) for row in path.read_text().splitlines() if ": " in row)
        if path.exists()
        else {}
    )
    lines[name] = line
    path.write_text("".join(f"{k}: {v}\n" for k, v in sorted(lines.items())))


# --- the pages ------------------------------------------------------------------------------------

Pages = dict[str, TestResponse]
#: The household's own words (typed in the account book): they stay as typed in both languages.
CATEGORIES = ("食費", "外食", "日用品")
MEMOS = ("イオン 夕食の買い物", "大戸屋 ランチ", "ダイソー 電池")
OWN_ACCOUNT = "ゆうちょ"
HOUSEHOLD = [*CATEGORIES, *MEMOS, OWN_ACCOUNT]
MAY = ("2025-05-01", "2025-05-31")


def _slip(sub: str, n: int, account: str = "cash") -> dict[str, Any]:
    day = f"2025-05-{1 + n % 28:02d}"
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"{day}#{n:05d}"},
        "date": {"S": day},
        "kind": {"S": "expense"},
        "category": {"S": CATEGORIES[n % 3]},
        "account": {"S": account},
        "amount": {"N": str(-100 - n)},
        "memo": {"S": MEMOS[n % 3]},
    }


def _seed(clients: Clients, settings: Settings, sub: str) -> None:
    """Give ``sub`` a month of slips on the account book's own accounts and one of theirs."""
    slips = [_slip(sub, n, ("cash", "bank", "card", OWN_ACCOUNT)[n % 4]) for n in range(12)]
    put_items(clients.dynamodb, settings.slips_table, slips)
    put_items(
        clients.dynamodb,
        settings.balances_table,
        [
            {
                "user_id": {"S": sub},
                "sk": {"S": f"2025-05-31#{a}"},
                "date": {"S": "2025-05-31"},
                "account": {"S": a},
                "balance": {"N": "50000"},
            }
            for a in ("cash", "bank", OWN_ACCOUNT)
        ],
    )


def _post(
    client: FlaskClient, path: str, data: dict[str, Any], token_from: str = "/"
) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **data})


def _then(client: FlaskClient, response: TestResponse) -> TestResponse:
    """Return the page a 303 leads to (or the response itself)."""
    if response.status_code in (302, 303):
        return client.get(response.headers["Location"])
    return response


def _signed_out(app: Flask, client: FlaskClient, clients: Clients, settings: Settings) -> Pages:
    """Sign-in, its challenges and the password reset, with their refusals."""
    from flask import session

    from webapp.identity.cognito import SOFTWARE_TOKEN_MFA, Challenge
    from webapp.web.auth.challenge import save_challenge

    token = csrf_token(client, "/login")
    pages = {"login": client.get("/login")}
    pages["login: empty"] = client.post("/login", data={"csrf_token": token})
    wrong = {"csrf_token": token, "email": "nobody@example.com", "password": "Wrong-123456"}
    pages["login: wrong password"] = client.post("/login", data=wrong)
    create_user(
        clients.cognito,
        settings.cognito_user_pool_id,
        "new@example.com",
        temporary_password="Temporary-1234-pass",
    )
    temporary = {"csrf_token": token, "email": "new@example.com", "password": "Temporary-1234-pass"}
    client.post("/login", data=temporary)
    pages["new password"] = client.get("/login/new-password")
    mismatch = {"csrf_token": token, "password": "Another-1234-pass", "confirm": "b"}
    pages["new password: mismatch"] = client.post("/login/new-password", data=mismatch)
    pages["new password: weak"] = client.post(
        "/login/new-password", data={"csrf_token": token, "password": "a", "confirm": "a"}
    )
    with app.test_request_context():
        save_challenge(
            Challenge(SOFTWARE_TOKEN_MFA, "session", "alice@example.com"),
            "/",
            account="alice@example.com",
        )
        sealed = session["challenge"]
    with client.session_transaction() as cookie:
        cookie["challenge"] = sealed
    pages["code"] = client.get("/login/mfa")
    pages["code: wrong"] = client.post("/login/mfa", data={"csrf_token": token, "code": "12ab"})
    pages["forgot"] = client.get("/login/forgot")
    sent = _post(client, "/login/forgot", {"email": "alice@example.com"}, "/login/forgot")
    pages["forgot: sent"] = _then(client, sent)
    pages["reset"] = client.get("/login/reset")
    bad = {"code": "000000", "password": "Another-1234-pass", "confirm": "Another-1234-pass"}
    pages["reset: wrong code"] = _post(client, "/login/reset", bad, "/login/reset")
    return pages


def _errors(client: FlaskClient) -> Pages:
    pages = {f"error {code}": client.get(f"/boom/{code}") for code in ERRORS}
    pages["error 404: no page"] = client.get("/no-such-page")
    pages["error 404: no archive"] = client.get("/exports/20260101T000000Z_20250101_20251231_abc")
    pages["error 405: a form's address"] = client.get("/logout")
    pages["error 400: no form token"] = client.post("/exports", data={})
    return pages


ERRORS = (400, 401, 403, 404, 405, 413, 429, 500, 503)


def _jobs(services: Services, sub: str) -> list[Any]:
    return sorted(services.jobs.list(sub), key=lambda job: job.id)


def _export(client: FlaskClient, **fields: Any) -> TestResponse:
    data = {"start": MAY[0], "end": MAY[1], "formats": "both", **fields}
    return _post(client, "/exports", data)


def _exports(client: FlaskClient, services: Services, worker: LocalWorker, sub: str) -> Pages:
    """The exports page: its refusals, then an export in each state a job goes through."""
    from webapp.errors import N_, UserError

    pages = {"exports: empty": client.get("/")}
    pages["exports: bad dates"] = _export(client, start="x", end="")
    pages["exports: too long"] = _export(client, start="2015-01-01", end="2025-12-31")
    pages["exports: reversed"] = _export(client, start="2025-06-01")
    pages["exports: bad format"] = _export(client, formats="xml")
    pages["exports: queued"] = _then(client, _export(client))
    job = _jobs(services, sub)[-1]
    running = services.jobs.claim(job, services.now())
    assert running is not None
    services.jobs.report(running, {"slips": 1234, "balances": 3}, services.now())
    pages["exports: running"] = client.get("/")
    failed = UserError(N_("The export failed, so no archive was made. Please try again."))
    services.jobs.fail(running, failed, services.now())
    pages["exports: failed"] = client.get("/")
    _export(client)
    cancelled = _jobs(services, sub)[-1]
    pages["exports: cancelled"] = _then(client, _post(client, f"/jobs/{cancelled.id}/cancel", {}))
    filters = {"accounts": ["cash", OWN_ACCOUNT], "kinds": ["expense"], "categories": ["食費"]}
    _export(client, formats="all", csv_encoding="cp932", **filters)
    worker.drain()
    pages["exports: done, filtered"] = client.get("/")
    return pages


def _restore(
    client: FlaskClient, services: Services, worker: LocalWorker, clients: Clients, sub: str
) -> Pages:
    """A check, a merge, its undo, and what each refuses along the way."""
    before = {job.id for job in _jobs(services, sub)}
    _then(client, _export(client))
    worker.drain()
    # This export's own archive: the filtered one made just before may share its second.
    (made,) = [job for job in _jobs(services, sub) if job.id not in before]
    archive = str(made.result["archive_id"])
    settings = services.settings
    # Since the export: one slip more, one changed, one gone.
    put_items(
        clients.dynamodb,
        settings.slips_table,
        [_slip(sub, 99), {**_slip(sub, 1), "amount": {"N": "-5000"}}],
    )
    clients.dynamodb.delete_item(
        TableName=settings.slips_table, Key={"user_id": {"S": sub}, "sk": _slip(sub, 2)["sk"]}
    )
    pages = {"restore: start": client.get(f"/restore/archives/{archive}")}
    pages["restore: upload"] = client.get("/restore/upload")
    check = _post(client, "/restore/preview", {"source": f"archive:{archive}"})
    pages["check: queued"] = _then(client, check)
    worker.drain()
    check_page = check.headers["Location"]
    pages["check: done"] = client.get(check_page)
    pages["check: replace not typed"] = _post(
        client, f"{check_page}/confirm", {"mode": "replace", "confirm": ""}, check_page
    )
    token = csrf_token(client, check_page)
    merged = client.post(f"{check_page}/confirm", data={"csrf_token": token, "mode": "merge"})
    pages["restore: queued"] = _then(client, merged)
    pages["check: used"] = client.post(
        f"{check_page}/confirm", data={"csrf_token": token, "mode": "merge"}
    )
    worker.drain()
    restore_page = merged.headers["Location"]
    pages["restore: done"] = client.get(restore_page)
    undo = _post(client, f"{restore_page}/undo", {}, restore_page)
    assert undo.status_code == 303, (undo.status_code, undo.get_data(as_text=True)[-1500:])
    worker.drain()
    pages["undo: check"] = client.get(undo.headers["Location"])
    undone = _post(client, f"{undo.headers['Location']}/confirm", {}, undo.headers["Location"])
    worker.drain()
    pages["undo: done"] = _then(client, undone)
    pages["exports: after restore and undo"] = client.get("/")
    # A check left too long asks to be made again.
    again = _post(client, "/restore/preview", {"source": f"archive:{archive}"})
    worker.drain()
    real = services.clock
    services.clock = lambda: real() + timedelta(hours=1)
    pages["check: too old"] = client.get(again.headers["Location"])
    services.clock = real
    pages.update(_refusals(client, services, worker, clients, sub, archive))
    return pages


def _refusals(
    client: FlaskClient,
    services: Services,
    worker: LocalWorker,
    clients: Clients,
    sub: str,
    archive: str,
) -> Pages:
    """A file that is no zip, one unsigned, one changed after it was signed."""
    from webapp.archive.ids import archive_key

    bucket = services.settings.export_bucket
    body = clients.s3.get_object(Bucket=bucket, Key=archive_key(sub, archive))["Body"].read()

    def changed(change: Callable[[dict[str, bytes]], None]) -> bytes:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            entries = {name: zf.read(name) for name in zf.namelist()}
        change(entries)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
        return out.getvalue()

    def later(entries: dict[str, bytes]) -> None:
        manifest = json.loads(entries["manifest.json"])
        manifest["range"]["end"] = "2025-12-31"
        entries["manifest.json"] = json.dumps(manifest).encode()

    uploads = {
        "not a zip": b"this is not a zip",
        "unsigned": changed(lambda entries: entries.pop("manifest.sig")),
        "changed": changed(later),
        "damaged file": changed(lambda e: e.update({"slips.json": e["slips.json"] + b"x\n"})),
    }
    pages = {}
    for n, (name, upload) in enumerate(uploads.items()):
        token = f"{n:032x}"
        key = f"uploads/{sub}/{token}.zip"
        clients.s3.put_object(Bucket=bucket, Key=key, Body=upload)
        arrived = client.get("/restore/uploaded", query_string={"key": key})
        if arrived.status_code != 200:
            pages[f"upload: {name}"] = arrived
            continue
        check = _post(client, "/restore/preview", {"source": f"upload:{token}"})
        worker.drain()
        pages[f"check refused: {name}"] = client.get(check.headers["Location"])
    return pages


def _backups(client: FlaskClient, services: Services, worker: LocalWorker, sub: str) -> Pages:
    """Automatic backups: on, the first one made, its restore, then off."""
    pages = {
        "backups: on": _then(client, _post(client, "/backups/setting", {"frequency": "weekly"}))
    }
    run_schedule(services, services.now().date() + timedelta(days=1))
    worker.drain()
    pages["backups: made"] = client.get("/")
    backup = services.backups.list(sub)[0]
    pages["restore: backup"] = client.get(f"/restore/backups/{backup.id}")
    pages["backups: off"] = _then(client, _post(client, "/backups/setting", {"frequency": "off"}))
    return pages


def _account(client: FlaskClient, auth: AuthActions) -> tuple[Pages, str]:
    """The account page, setting up an authenticator app, and signing out everywhere."""
    pages = {"account": client.get("/account")}
    _post(client, "/account/authenticator/new", {}, "/account")
    setup = client.get("/account/authenticator")
    pages["account: set up"] = setup
    secret = re.search(r'id="totp-secret">([A-Za-z2-7 ]+)<', setup.get_data(as_text=True))
    pages["account: wrong code"] = _post(
        client, "/account/authenticator", {"code": "12ab56"}, "/account/authenticator"
    )
    pages["delete: one"] = client.get(f"/exports/{_first_archive(client)}/delete")
    pages["delete: all"] = client.get("/exports/delete-all")
    pages["signed out everywhere"] = _then(client, _post(client, "/logout/everywhere", {}))
    auth.login()
    pages["signed out"] = _then(client, auth.logout())
    return pages, secret.group(1) if secret else ""


def _first_archive(client: FlaskClient) -> str:
    found = re.search(r'href="/exports/([0-9A-Za-z_]+)/delete"', client.get("/").get_data(True))
    assert found
    return found.group(1)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_page_reads_in_its_language(
    lang: str,
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    services: Services,
    worker: LocalWorker,
    clients: Clients,
    settings: Settings,
    user: User,
) -> None:
    from webapp.web.i18n import LANGUAGE_COOKIE

    @app.get("/boom/<int:code>")
    def boom(code: int) -> str:
        if code == 500:
            raise RuntimeError("secret detail")
        abort(code)

    client.set_cookie(LANGUAGE_COOKIE, lang)
    _seed(clients, settings, user.sub)
    pages = _signed_out(app, client, clients, settings)
    assert auth.login().status_code == 303
    pages.update(_errors(client))
    pages.update(_exports(client, services, worker, user.sub))
    pages.update(_restore(client, services, worker, clients, user.sub))
    pages.update(_backups(client, services, worker, user.sub))
    account, secret = _account(client, auth)
    pages.update(account)

    unexpected = {
        n: p.status_code for n, p in pages.items() if p.status_code >= 500 and "50" not in n
    }
    assert unexpected == {}
    data = [*HOUSEHOLD, user.email, "alice@example.com", "nobody@example.com", secret]
    read = japanese_problems if lang == "ja" else english_problems
    problems: dict[str, str] = {}  # each problem once, with the first page that shows it
    for name, page in pages.items():
        assert not 300 <= page.status_code < 400, name
        assert f'<html lang="{lang}">' in page.get_data(as_text=True), name
        for chunk in chunks_of(page):
            for problem in read(chunk, data):
                problems.setdefault(problem, name)
    _record(
        f"pages ({lang})",
        f"{len(pages)} pages, {sum(len(chunks_of(p)) for p in pages.values())} texts",
    )
    found = ARTIFACTS / f"japanese-reading-{lang}.txt"
    found.write_text("".join(f"{page}: {problem}\n" for problem, page in problems.items()))
    assert problems == {}, f"{len(problems)} problems, listed in {found}"

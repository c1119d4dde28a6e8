"""The site in Japanese and English: catalogs, negotiation, the switch, and no English left."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from flask import Flask, abort, session
from flask.testing import FlaskClient
from support import text

from webapp import create_app
from webapp.aws import Clients
from webapp.identity.cognito import SOFTWARE_TOKEN_MFA, Challenge, create_user
from webapp.local.worker import LocalWorker
from webapp.settings import Settings
from webapp.web.auth.challenge import save_challenge
from webapp.web.auth.session import User
from webapp.web.i18n import LANGUAGE_COOKIE

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
#: Names that stay as they are in Japanese text.
NAMES = {"Excel", "DynamoDB", "CSV", "JSON", "PC", "zip", "KB", "MB", "GB", "TB", "English"}
NAMES |= {"xlsx", "UTF", "BOM", "Shift", "JIS", "cp", "freee"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


# --- the catalogs ------------------------------------------------------------------------------


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Extract the messages now, with the Makefile's own flags."""
    makefile = (ROOT / "Makefile").read_text()
    flags = re.search(r"^EXTRACT_FLAGS := (.+)$", makefile, re.MULTILINE)
    assert flags, "EXTRACT_FLAGS is defined in the Makefile"
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "-q", "extract", *flags.group(1).split(), "-o", str(out), "."],
        cwd=ROOT,
        check=True,
    )
    return _read(out)


def test_messages_pot_is_current_with_the_code_and_templates(extracted: Catalog) -> None:
    committed = _read(TRANSLATIONS / "messages.pot")
    missing, stale = _ids(extracted) - _ids(committed), _ids(committed) - _ids(extracted)
    assert not missing and not stale, (
        f"run `make messages`: new {sorted(map(str, missing))}, gone {sorted(map(str, stale))}"
    )


def test_every_message_has_a_japanese_translation(extracted: Catalog) -> None:
    japanese = _read(TRANSLATIONS / "ja" / "LC_MESSAGES" / "messages.po", "ja")
    assert len(_ids(extracted)) > 100  # the extraction found the site's messages
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        found = japanese.get(message.id)
        strings = found.string if found else None
        forms = strings if isinstance(strings, tuple) else (strings,)
        if not found or not all(forms) or found.fuzzy:
            untranslated.append(message.id)
            continue
        wanted = set(PLACEHOLDER.findall(str(message.id)))
        for form in forms:
            assert set(PLACEHOLDER.findall(str(form))) == wanted, (message.id, form)
    assert untranslated == []


def test_the_compiled_catalog_is_not_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""
    assert "*.mo" in (ROOT / ".gitignore").read_text().split()


# --- choosing the language ----------------------------------------------------------------------


def _lang(response_html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', response_html)
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    ("cookie", "accept", "default", "expected"),
    [
        (None, None, "ja", "ja"),  # nothing asked: the default
        (None, None, "en", "en"),
        (None, "en-US,en;q=0.9", "ja", "en"),  # the browser's choice
        (None, "ja-JP,ja;q=0.9,en;q=0.8", "en", "ja"),
        (None, "fr-FR,de;q=0.8", "ja", "ja"),  # a language the site lacks: the default
        (None, "fr-FR,en;q=0.5", "ja", "en"),  # the best one the site has
        ("en", "ja-JP,ja", "ja", "en"),  # the visitor's own choice wins
        ("ja", "en-US,en", "en", "ja"),
        ("xx", "en-US", "ja", "en"),  # a cookie that names no language is ignored
    ],
)
def test_the_language_is_the_cookie_then_the_browser_then_the_default(
    settings: Settings, cookie: str | None, accept: str | None, default: str, expected: str
) -> None:
    client = create_app(Settings(**{**settings.__dict__, "default_locale": default})).test_client()
    if cookie:
        client.set_cookie(LANGUAGE_COOKIE, cookie)
    page = client.get("/login", headers={"Accept-Language": accept} if accept else {})
    html = page.get_data(as_text=True)
    assert _lang(html) == expected
    assert ("サインイン" in html) is (expected == "ja")


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(True))
    assert match
    return match.group(1)


def test_the_switch_remembers_the_choice_and_returns_to_the_page(client: FlaskClient) -> None:
    token = _csrf(client)
    response = client.post(
        "/language", data={"csrf_token": token, "lang": "ja", "next": "/login?next=%2F"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=%2F"
    cookie = client.get_cookie(LANGUAGE_COOKIE)
    assert cookie is not None and cookie.value == "ja"
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=31536000" in header
    assert _lang(client.get("/login", headers={"Accept-Language": "en"}).get_data(True)) == "ja"

    client.post("/language", data={"csrf_token": token, "lang": "en", "next": "/login"})
    assert _lang(client.get("/login", headers={"Accept-Language": "ja"}).get_data(True)) == "en"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_the_switch_only_returns_to_pages_of_this_site(client: FlaskClient, target: str) -> None:
    token = _csrf(client)
    response = client.post("/language", data={"csrf_token": token, "lang": "en", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_the_switch_needs_the_csrf_token_and_a_known_language(client: FlaskClient) -> None:
    refused = client.post("/language", data={"lang": "en", "next": "/login"})
    assert refused.status_code == 400
    assert client.get_cookie(LANGUAGE_COOKIE) is None
    unknown = client.post("/language", data={"csrf_token": _csrf(client), "lang": "fr"})
    assert unknown.status_code == 400
    assert "Choose 日本語 or English." in text(unknown)
    assert client.get_cookie(LANGUAGE_COOKIE) is None
    assert client.get("/language").status_code == 405


def test_every_page_offers_the_switch_with_the_current_language_marked(
    client: FlaskClient,
) -> None:
    html = client.get("/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'action="/language"' in html
    assert re.search(r'value="ja" lang="ja"[^>]*aria-pressed="true"[^>]*>日本語<', html)
    assert re.search(r'value="en" lang="en"[^>]*aria-pressed="false"[^>]*>English<', html)


# --- formatted per language ---------------------------------------------------------------------

SignIn = Callable[[User], None]


def test_the_archive_list_formats_dates_sizes_and_times_per_language(
    app: Flask,
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: Callable[..., str],
) -> None:
    created = datetime(2026, 12, 2, 5, 5, tzinfo=UTC)
    # The page is drawn a minute after the archive was made.
    app.extensions["kakeibo.services"].clock = lambda: datetime(2026, 12, 2, 5, 6, tzinfo=UTC)
    put_archive(user.sub, date(2025, 1, 1), date(2025, 12, 31), created=created)
    login(user)
    ja = _words(client.get("/", headers={"Accept-Language": "ja"}).get_data(True))
    en = _words(client.get("/", headers={"Accept-Language": "en"}).get_data(True))
    assert "2025年1月1日～2025年12月31日" in ja
    assert "2026年12月2日 14:05" in ja and "2026年12月9日 14:05" in ja
    assert "22バイト" in ja and "7日後" in ja and "時刻は日本時間です。" in ja
    assert "Jan 1, 2025 – Dec 31, 2025" in en
    assert "Dec 2, 2026, 2:05\u202fPM" in en and "Dec 9, 2026, 2:05\u202fPM" in en
    assert "22 bytes" in en and "in 7 days" in en and "Times are in Japan Time." in en


def _words(html: str) -> str:
    """Return the page's text without tags, spaces collapsed."""
    return re.sub(r"[ \t\r\n]+", " ", text_of(html))


def text_of(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return "".join(parser.chunks)


def test_an_export_is_reported_in_japanese_with_counts(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    _seed(clients, settings, user, slips=1234, balances=1)
    login(user)
    token = _csrf(client, "/")
    response = client.post(
        "/exports",
        data={"csrf_token": token, "start": "2025-01-01", "end": "2025-12-31", "formats": "both"},
        headers={"Accept-Language": "ja"},
    )
    started = text(client.get(response.headers["Location"], headers={"Accept-Language": "ja"}))
    assert "エクスポートを開始しました。" in started and "開始を待っています…" in started
    worker.drain()
    page = text(client.get(response.headers["Location"], headers={"Accept-Language": "ja"}))
    assert re.search(r"伝票 1,234件と残高 1件をエクスポートしました（\d+(\.\d)? KB）。", page)


def _seed(clients: Clients, settings: Settings, user: User, *, slips: int, balances: int) -> None:
    from webapp.archive.dynamo import put_items

    def item(sk: str) -> dict[str, dict[str, str]]:
        return {"user_id": {"S": user.sub}, "sk": {"S": sk}}

    put_items(
        clients.dynamodb,
        settings.slips_table,
        (item(f"2025-03-{1 + n % 28:02d}#{n:06d}") for n in range(slips)),
    )
    put_items(
        clients.dynamodb,
        settings.balances_table,
        (item(f"2025-03-31#a{n}") for n in range(balances)),
    )


# --- no English left on the Japanese pages ------------------------------------------------------


class _Visible(HTMLParser):
    """Collect what a person reads or hears: text, titles, labels, button values."""

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
        if not self._skip:
            self.chunks.append(data)


def english_left(html: str, *, besides: tuple[str, ...] = ()) -> list[str]:
    """Return the English words a Japanese page still shows (names and data aside)."""
    parser = _Visible()
    parser.feed(html)
    words = []
    for chunk in parser.chunks:
        for ignored in besides:
            chunk = chunk.replace(ignored, " ")
        words += [w for w in re.findall(r"[A-Za-z]{2,}", chunk) if w not in NAMES]
    return words


def test_the_detector_finds_english(client: FlaskClient) -> None:
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert {"Sign", "Email", "address", "Password"} <= set(english_left(english))


JA = {"Accept-Language": "ja-JP,ja;q=0.9"}


def test_japanese_sign_in_pages_have_no_english(
    app: Flask, client: FlaskClient, clients: Clients, settings: Settings, user: User
) -> None:
    pages = [client.get("/login", headers=JA)]
    token = _csrf(client)
    pages.append(client.post("/login", data={"csrf_token": token}, headers=JA))
    pages.append(
        client.post(
            "/login",
            data={"csrf_token": token, "email": "nobody@example.com", "password": "Wrong-123456"},
            headers=JA,
        )
    )
    # A temporary password leads to the new-password page, through Cognito (moto).
    create_user(
        clients.cognito,
        settings.cognito_user_pool_id,
        "new@example.com",
        temporary_password="Temporary-1234-pass",
    )
    client.post(
        "/login",
        data={"csrf_token": token, "email": "new@example.com", "password": "Temporary-1234-pass"},
    )
    pages.append(client.get("/login/new-password", headers=JA))
    pages.append(
        client.post(
            "/login/new-password",
            data={"csrf_token": token, "password": "a", "confirm": "b"},
            headers=JA,
        )
    )
    with app.test_request_context():
        save_challenge(
            Challenge(SOFTWARE_TOKEN_MFA, "session", user.email), "/", account=user.email
        )
        sealed = session["challenge"]
    with client.session_transaction() as cookie:
        cookie["challenge"] = sealed
    pages.append(client.get("/login/mfa", headers=JA))
    pages.append(client.post("/login/mfa", data={"csrf_token": token, "code": "12ab"}, headers=JA))
    assert [p.status_code for p in pages] == [200, 400, 401, 200, 400, 200, 400]
    for page in pages:
        html = page.get_data(as_text=True)
        assert _lang(html) == "ja"
        assert english_left(html, besides=("name@example.com",)) == [], html


def test_japanese_exports_page_has_no_english(
    client: FlaskClient, user: User, login: SignIn, put_archive: Callable[..., str]
) -> None:
    archive = put_archive(user.sub)
    login(user)
    token = _csrf(client, "/")
    pages = {
        "list": client.get("/", headers=JA),
        "preset": client.get("/?start=2025-01-01&end=2025-01-31", headers=JA),
        "bad dates": client.post(
            "/exports", data={"csrf_token": token, "start": "x", "end": ""}, headers=JA
        ),
        "too long": client.post(
            "/exports",
            data={"csrf_token": token, "start": "2015-01-01", "end": "2025-12-31"},
            headers=JA,
        ),
        "reversed": client.post(
            "/exports",
            data={"csrf_token": token, "start": "2025-02-01", "end": "2025-01-01"},
            headers=JA,
        ),
        # WTForms' own message, from its Japanese catalog.
        "bad format": client.post(
            "/exports",
            data={
                "csrf_token": token,
                "start": "2025-01-01",
                "end": "2025-01-31",
                "formats": "xml",
            },
            headers=JA,
        ),
        "deleted": client.post(
            f"/exports/{archive}/delete",
            data={"csrf_token": token, "confirm": "yes"},
            headers=JA,
            follow_redirects=True,
        ),
    }
    started = client.post(
        "/exports",
        data={"csrf_token": token, "start": "2025-01-01", "end": "2025-01-31", "formats": "csv"},
        headers=JA,
    )
    pages["job queued"] = client.get(started.headers["Location"], headers=JA)
    assert "開始を待っています…" in text(pages["job queued"])
    assert pages["list"].status_code == 200
    assert {name: p.status_code for name, p in pages.items() if p.status_code == 400} == {
        "bad dates": 400,
        "too long": 400,
        "reversed": 400,
        "bad format": 400,
    }
    for name, page in pages.items():
        html = page.get_data(as_text=True)
        assert english_left(html, besides=(user.email,)) == [], name


def test_japanese_error_pages_have_no_english(settings: Settings, user: User) -> None:
    app = create_app(settings)

    @app.get("/boom/<int:code>")
    def boom(code: int) -> str:
        if code == 500:
            raise RuntimeError("secret detail")
        abort(code)

    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie.update(sub=user.sub, email=user.email, exp=int(datetime.now().timestamp()) + 600)
    pages = {code: client.get(f"/boom/{code}", headers=JA) for code in (400, 403, 404, 405, 418)}
    pages[500] = client.get("/boom/500", headers=JA)
    pages[1404] = client.get("/no-such-page", headers=JA)
    pages[2404] = client.get("/exports/20260101T000000Z_20250101_20251231_abcdefabcdef", headers=JA)
    pages[1405] = client.get("/logout", headers=JA)
    pages[1400] = client.post("/exports", data={}, headers=JA)  # no CSRF token
    for code, page in pages.items():
        assert page.status_code == code % 1000
        html = page.get_data(as_text=True)
        assert english_left(html, besides=(user.email,)) == [], (code, html)
    assert "アーカイブは作成から7日で削除されます" in text(pages[2404])


def test_expiry_wording_matches_the_retention_days(
    client: FlaskClient, user: User, login: SignIn, put_archive: Callable[..., str]
) -> None:
    # Made just now and kept 7 days: both languages say 7, as the page's lead does.
    put_archive(user.sub, created=datetime.now(UTC) - timedelta(seconds=5))
    login(user)
    assert "7日後" in text(client.get("/", headers=JA))
    assert "in 7 days" in text(client.get("/", headers={"Accept-Language": "en"}))

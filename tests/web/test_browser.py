"""End to end in a real browser: `make run`'s stack driven by Debian's chromium.

The app and its moto server run in a subprocess exactly as ``make run`` starts
them; Playwright signs in through the real sign-in page, exports last year,
downloads the archive from the moto S3 origin, deletes it and signs out, with
JavaScript switched off (the site needs none). axe-core checks the sign-in and
exports pages. The restore tests (as the second demo user, whose tables they
change) upload a downloaded archive or pick one from the list, preview, and
restore it; boto3 checks the tables against the archive. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from support import free_port

from webapp.archive.decode import decode_line
from webapp.local.demo import DEMO_PASSWORD, demo_items
from webapp.local.stack import APP_TABLE, BALANCES_TABLE, BUCKET, REGION, SLIPS_TABLE
from webapp.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEMO_EMAIL = "demo@example.com"
#: The second demo user: the restore tests change its tables, never the first one's.
OTHER_EMAIL = "other@example.com"
#: Debian's wrapper script, then the real binary behind it.
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 90.0


def _unavailable(reason: str) -> None:
    """Skip a test that needs a missing tool; in CI, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Return the path of Debian's chromium."""
    for path in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_PATHS):
        if path and os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium")
    if found:
        return found
    _unavailable("chromium is not installed (apt-get install -y chromium)")
    raise AssertionError("unreachable")


class Stack:
    """``python -m webapp.local`` running in a subprocess."""

    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp.local"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Return what the stack has printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_healthy(self) -> None:
        """Poll /healthz until it answers, or fail with the stack's output."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the local stack exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        pytest.fail(
            f"the local stack did not answer within {START_TIMEOUT:.0f} s:\n{self.output()}"
        )

    @property
    def moto_origin(self) -> str:
        """Return the moto server's origin, as the stack's banner names it."""
        match = re.search(r"Local AWS \(moto\):\s+(http://\S+)", self.output())
        assert match, self.output()
        return match.group(1).rstrip("/")

    def stop(self) -> int:
        """Stop the stack the way Ctrl-C or `kill` would; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="module")
def stack(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start `make run`'s stack on free ports; stop it cleanly afterwards."""
    running = Stack(free_port(), tmp_path_factory.mktemp("stack") / "stack.log")
    try:
        running.wait_until_healthy()
        yield running
    finally:
        code = running.stop()
    assert code == 0, f"the stack did not stop cleanly ({code}):\n{running.output()}"
    assert "Stopped." in running.output()


@pytest.fixture(scope="module")
def japanese_font() -> None:
    """Require a font with Japanese glyphs, so screenshots show text, not boxes."""
    fc_list = shutil.which("fc-list")
    found = (
        fc_list
        and subprocess.run(
            [fc_list, ":lang=ja", "family"], capture_output=True, text=True
        ).stdout.strip()
    )
    if not found:
        _unavailable("no Japanese font is installed (apt-get install -y fonts-noto-cjk)")


@pytest.fixture(scope="module")
def browser(chromium: str, japanese_font: None) -> Iterator[Any]:
    """Launch Debian's chromium through Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python Playwright is not installed (requirements-dev.txt)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(params=[False], ids=["js-off"])
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Return a fresh page, JavaScript off unless a test asks: the site needs none."""
    context = browser.new_context(
        java_script_enabled=request.param,
        accept_downloads=True,
        viewport={"width": 1280, "height": 800},
        # The household's browser asks for Japanese, the site's first language.
        locale="ja-JP",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def _axe_problems(page: Any) -> list[str]:
    """Return axe-core's serious and critical violations on the page's current URL.

    axe needs timers, which never fire with JavaScript off (it would wait
    forever), so it runs in a second context with JavaScript on and the same
    cookies.
    """
    context = page.context.browser.new_context(storage_state=page.context.storage_state())
    try:
        checked = context.new_page()
        checked.goto(page.url)
        return _axe_here(checked)
    finally:
        context.close()


def _axe_here(page: Any) -> list[str]:
    """Return axe-core's serious and critical violations on a JavaScript-enabled page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _sign_in(page: Any, stack: Stack, email: str = DEMO_EMAIL) -> None:
    page.goto(f"{stack.url}/")
    assert page.url.startswith(f"{stack.url}/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(f"{stack.url}/")


def _expected_counts(start: date, end: date) -> dict[str, int]:
    """Count the demo user's items in a range, from the same seeded generator."""
    # Local mode seeds two years ending today in its display time zone (the
    # default, Asia/Tokyo); the sub does not change the data.
    today = datetime.now(ZoneInfo(Settings.display_timezone)).date()
    slips, balances = demo_items("any-sub", DEMO_EMAIL, today)
    inside = [start.isoformat(), end.isoformat()]
    return {
        "slips": sum(inside[0] <= s["date"] <= inside[1] for s in slips),
        "balances": sum(inside[0] <= b["date"] <= inside[1] for b in balances),
    }


def _check_archive(path: Path, start: date, end: date) -> dict[str, int]:
    """Check a downloaded archive end to end; return its item counts."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [
            "slips.csv",
            "slips.json",
            "balances.csv",
            "balances.json",
            "README.txt",  # listed in the manifest (v2), so written before it
            "manifest.json",
            "manifest.sig",
        ]
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "kakeibo-export"
        assert manifest["range"] == {"start": start.isoformat(), "end": end.isoformat()}
        counts: dict[str, int] = {}
        for table in ("slips", "balances"):
            entry = manifest["tables"][table]
            for name, file in entry["files"].items():
                data = archive.read(name)
                assert file["bytes"] == len(data), name
                assert file["sha256"] == hashlib.sha256(data).hexdigest(), name
            text = archive.read(f"{table}.csv").decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text, newline="")))
            lines = archive.read(f"{table}.json").decode("utf-8").splitlines()
            assert len(rows) - 1 == len(lines) == entry["item_count"], table
            assert all(json.loads(line).keys() == {"Item"} for line in lines)
            counts[table] = entry["item_count"]
    return counts


def test_sign_in_export_download_delete_sign_out(stack: Stack, page: Any, tmp_path: Path) -> None:
    page.goto(f"{stack.url}/")
    assert page.title() == "サインイン · 家計簿エクスポート"
    assert page.locator("html").get_attribute("lang") == "ja"
    login_problems = _axe_problems(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sign-in-page.png"), full_page=True)
    _sign_in(page, stack)
    assert page.title() == "エクスポート · 家計簿エクスポート"
    assert page.get_by_text("アーカイブはまだありません").is_visible()

    # A quick range is a plain link that fills the form.
    page.get_by_role("link", name="昨年", exact=True).click()
    # "Last year" is the display time zone's (Tokyo's), which is a day ahead of
    # UTC for part of New Year's Eve: read it from the form, then check its shape.
    start = date.fromisoformat(page.get_by_label("開始日", exact=True).input_value())
    end = date.fromisoformat(page.get_by_label("終了日", exact=True).input_value())
    assert (start, end) == (date(start.year, 1, 1), date(start.year, 12, 31))
    assert start.year in (date.today().year - 1, date.today().year)
    assert page.get_by_role("radio", name="CSV と DynamoDB JSON", exact=True).is_checked()
    page.get_by_role("button", name="エクスポート", exact=True).click()

    # The request only queued a job; without JavaScript the page refreshes itself
    # (a <noscript> meta refresh) until the worker has made the archive.
    assert page.get_by_text("エクスポートを開始しました。").is_visible()
    expected = _expected_counts(start, end)
    flash = page.locator(".flash--success")
    flash.wait_for(timeout=30_000)
    assert re.fullmatch(
        rf"伝票 {expected['slips']:,}件と残高 {expected['balances']:,}件をエクスポートしました"
        r"（\d[\d.,]* (KB|MB)）。",
        flash.inner_text().strip(),
    ), flash.inner_text()
    row = page.locator("tr.archive--new")
    assert row.count() == 1
    assert f"{start.year}年1月1日～{end.year}年12月31日" in row.inner_text()
    exports_problems = _axe_problems(page)

    page.screenshot(path=str(ARTIFACTS / "exports-page.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "exports-page-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The header's switch (a form: no JavaScript needed) turns the same page English.
    page.get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title() == "Your exports · Kakeibo Export"
    assert f"Jan 1, {start.year} – Dec 31, {end.year}" in page.locator("tr.archive").inner_text()
    english_problems = _axe_problems(page)
    page.screenshot(path=str(ARTIFACTS / "exports-page-en.png"), full_page=True)
    page.get_by_role("button", name="日本語").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))
    assert page.locator("html").get_attribute("lang") == "ja"
    row = page.locator("tr.archive").first

    link = row.get_by_role("link", name=re.compile("^ダウンロード"))
    href = link.get_attribute("href")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.url.startswith(f"{stack.moto_origin}/"), download.url
    assert "X-Amz-Signature=" in download.url
    # The name says the period, the formats and the creation time in the page's zone.
    made = datetime.strptime(str(row.get_attribute("id"))[8:24], "%Y%m%dT%H%M%SZ")
    minute = made.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (
        download.suggested_filename == f"kakeibo_{start}_{end}_csv+json_{minute:%Y%m%d-%H%M%S}.zip"
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert _check_archive(saved, start, end) == expected

    # Delete asks first, on a page of its own (no JavaScript needed).
    row.get_by_role("link", name=re.compile("^削除…")).click()
    assert page.get_by_role("heading", name="このアーカイブを削除しますか？").is_visible()
    page.get_by_role("button", name="このアーカイブを削除").click()
    page.wait_for_url(f"{stack.url}/")
    deleted = f"{start.year}年1月1日～{end.year}年12月31日のアーカイブを削除しました。"
    assert page.get_by_text(deleted).is_visible()
    assert page.locator("tr.archive").count() == 0
    assert page.get_by_text("アーカイブはまだありません").is_visible()
    gone = page.goto(f"{stack.url}{href}")
    assert gone is not None and gone.status == 404
    assert page.get_by_text("そのアーカイブは削除されたか、存在しません。").is_visible()
    page.screenshot(path=str(ARTIFACTS / "archive-gone-page.png"), full_page=True)

    page.get_by_role("button", name="サインアウト", exact=True).click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/login")))
    assert page.get_by_text("サインアウトしました。").is_visible()
    page.goto(f"{stack.url}/")
    assert page.url.startswith(f"{stack.url}/login")

    assert login_problems == [], login_problems
    assert exports_problems == [], exports_problems
    assert english_problems == [], english_problems


@pytest.mark.parametrize("page", [True], ids=["js-on"], indirect=True)
def test_with_javascript_the_job_row_turns_into_the_archive_without_a_reload(
    stack: Stack, page: Any
) -> None:
    _sign_in(page, stack)
    page.get_by_role("link", name="今月", exact=True).click()
    page.get_by_role("button", name="エクスポート", exact=True).click()
    job = page.locator("tr.job")
    job.wait_for()
    assert job.locator(".job__text").inner_text() in {"開始を待っています…", "エクスポート中…"} or (
        job.locator(".job__text").inner_text().startswith("エクスポート中… これまでに")
    )
    page.evaluate("window.notReloaded = true")  # a reload would forget this

    row = page.locator("tr.archive--new")
    row.wait_for(timeout=30_000)

    assert page.evaluate("window.notReloaded") is True
    assert page.locator("tr.job").count() == 0
    assert page.locator("html").get_attribute("lang") == "ja"
    assert row.get_by_role("link", name=re.compile("^ダウンロード")).is_visible()
    assert _axe_here(page) == []
    # Clean up for the other tests of this module.
    row.get_by_role("link", name=re.compile("^削除…")).click()
    page.get_by_role("button", name="このアーカイブを削除").click()
    page.wait_for_url(f"{stack.url}/")


@pytest.mark.parametrize("page", [True], ids=["js-on"], indirect=True)
def test_with_javascript_a_shift_jis_export_says_its_count_and_the_started_message_goes(
    stack: Stack, page: Any
) -> None:
    _sign_in(page, stack)
    page.get_by_role("link", name="昨年", exact=True).click()
    page.wait_for_url(re.compile(r"#new-export$"))
    page.wait_for_load_state()
    # A quick range reloads the page at the form, which keeps the focus.
    assert page.evaluate("document.activeElement.id") == "new-export"
    page.locator('input[name="formats"][value="csv"]').click()
    page.locator('input[name="csv_encoding"][value="cp932"]').click()
    page.get_by_role("button", name="エクスポート", exact=True).click()
    page.locator("tr.job").wait_for()
    page.evaluate("window.notReloaded = true")

    page.locator("tr.archive--new").wait_for(timeout=30_000)

    assert page.evaluate("window.notReloaded") is True
    outcome = page.locator("#job-outcome")
    # The demo memos hold an emoji, which Shift_JIS cannot: the count shows as after a reload.
    assert re.search(
        r"CSV では、Shift_JIS で表せない[0-9,]+文字を「\?」にしました。", outcome.inner_text()
    )
    assert page.get_by_text("エクスポートを開始しました。").count() == 0
    assert _axe_here(page) == []
    row = page.locator("tr.archive--new")
    row.get_by_role("link", name=re.compile("^削除…")).click()
    page.get_by_role("button", name="このアーカイブを削除").click()
    page.wait_for_url(f"{stack.url}/")


@pytest.mark.parametrize("page", [True, False], ids=["js-on", "js-off"], indirect=True)
def test_the_encoding_is_only_offered_with_csv(
    stack: Stack, page: Any, request: pytest.FixtureRequest
) -> None:
    javascript: bool = request.node.callspec.params["page"]
    _sign_in(page, stack)
    encoding = page.locator("fieldset.choices--encoding")
    shift_jis = page.locator('input[name="csv_encoding"][value="cp932"]')

    page.locator('input[name="formats"][value="json"]').click()
    # Dimmed by the stylesheet alone; with JavaScript also disabled (skipped, announced so).
    assert encoding.evaluate("e => getComputedStyle(e).opacity") == "0.5"
    assert shift_jis.is_disabled() is javascript
    page.locator('input[name="formats"][value="xlsx"]').click()
    assert encoding.evaluate("e => getComputedStyle(e).opacity") == "0.5"

    page.locator('input[name="formats"][value="csv"]').click()
    assert encoding.evaluate("e => getComputedStyle(e).opacity") == "1"
    assert shift_jis.is_enabled()
    shift_jis.click()
    assert shift_jis.is_checked()


@pytest.mark.parametrize("page", [True], ids=["js-on"], indirect=True)
def test_a_reversed_range_is_explained_next_to_the_field(stack: Stack, page: Any) -> None:
    _sign_in(page, stack)
    page.get_by_label("開始日", exact=True).fill("2025-03-01")
    page.get_by_label("終了日", exact=True).fill("2025-02-01")
    page.get_by_role("button", name="エクスポート", exact=True).click()

    end = page.get_by_label("終了日", exact=True)
    assert end.get_attribute("aria-invalid") == "true"
    assert end.input_value() == "2025-02-01"
    error = page.locator("#end-error")
    assert "最後の日は最初の日と同じか、それより後にしてください。" in error.inner_text()
    assert "end-error" in (end.get_attribute("aria-describedby") or "")
    assert page.get_by_text("アーカイブはまだありません").is_visible()  # nothing was written
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "exports-form-error.png"), full_page=True)
    assert _axe_here(page) == []


# --- restore from the page ----------------------------------------------------------------

Item = dict[str, Any]
RESTORE_TABLES = {"slips": SLIPS_TABLE, "balances": BALANCES_TABLE}


def _aws(stack: Stack, service: str) -> Any:
    """Return a boto3 client of the stack's moto server (fake credentials)."""
    return boto3.client(
        service,
        endpoint_url=stack.moto_origin,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _archive_items(path: Path) -> tuple[dict[str, Any], dict[str, list[Item]]]:
    """Return an archive's manifest and its typed items per table, as the restore reads them."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        items = {
            table: [
                decode_line(line, f"{table}.json:{number}")
                for number, line in enumerate(archive.read(f"{table}.json").splitlines(), 1)
            ]
            for table in RESTORE_TABLES
        }
    return manifest, items


def _period_items(dynamodb: Any, table: str, sub: str, start: date, end: date) -> list[Item]:
    """Return a user's items of a period, in sort-key order, read straight from the table."""
    items: list[Item] = []
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "user_id = :sub AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":sub": {"S": sub},
            ":low": {"S": start.isoformat()},
            ":high": {"S": f"{end.isoformat()}~"},
        },
        "ConsistentRead": True,
    }
    while True:
        answer = dynamodb.query(**query)
        items.extend(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return items
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


#: The lines a cell's text takes, counted by the browser's layout.
_LINES = """cell => { const range = document.createRange(); range.selectNodeContents(cell);
  return new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size; }"""


def _row_names_stay_whole_in_english(page: Any) -> None:
    """In English at 1280 px the counts' row names ("Slips") take one line (issue 26)."""
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="What a restore would change").wait_for()
    names = page.locator(".table--counts tbody th")
    assert names.all_inner_texts() == ["Slips", "Balances"]
    assert [name.evaluate(_LINES) for name in names.all()] == [1, 1]
    page.screenshot(path=str(ARTIFACTS / "restore-preview-page-en.png"), full_page=True)
    page.get_by_role("button", name="日本語").click()
    page.get_by_role("heading", name="復元で変わること").wait_for()


def _counts_table(page: Any) -> dict[str, dict[str, str]]:
    """Return the page's table of counts: row heading -> column heading -> cell text."""
    table = page.locator("table.table--counts")
    columns = [th.inner_text().strip() for th in table.locator("thead th").all()][1:]
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = [td.inner_text().strip() for td in row.locator("td").all()]
        rows[row.locator("th").inner_text().strip()] = dict(zip(columns, cells, strict=True))
    return rows


def test_restore_an_uploaded_archive_after_the_table_changed(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    """Download an archive, change the table, upload the file, preview, replace: it is back."""
    _sign_in(page, stack, OTHER_EMAIL)
    page.get_by_role("link", name="先月", exact=True).click()
    start = date.fromisoformat(page.get_by_label("開始日", exact=True).input_value())
    end = date.fromisoformat(page.get_by_label("終了日", exact=True).input_value())
    page.get_by_role("button", name="エクスポート", exact=True).click()
    page.locator(".flash--success").wait_for(timeout=30_000)
    link = page.locator("tr.archive--new").get_by_role("link", name=re.compile("^ダウンロード"))
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    manifest, archived = _archive_items(saved)
    sub = manifest["user_sub"]
    assert manifest["range"] == {"start": start.isoformat(), "end": end.isoformat()}

    # Change the table behind the site's back: three slips go, one slip and one
    # balance change, and one slip appears that the archive never had.
    dynamodb = _aws(stack, "dynamodb")
    slips = _period_items(dynamodb, SLIPS_TABLE, sub, start, end)
    balances = _period_items(dynamodb, BALANCES_TABLE, sub, start, end)
    assert (slips, balances) == (archived["slips"], archived["balances"])
    assert len(slips) > 10 and len(balances) == 3
    for gone in (slips[1], slips[5], slips[9]):
        dynamodb.delete_item(
            TableName=SLIPS_TABLE, Key={"user_id": gone["user_id"], "sk": gone["sk"]}
        )
    changed = {**slips[3], "amount": {"N": "-777"}, "memo": {"S": "ブラウザテストで変更"}}
    dynamodb.put_item(TableName=SLIPS_TABLE, Item=changed)
    added_sk = f"{(start + (end - start) // 2).isoformat()}#browser-test"
    dynamodb.put_item(
        TableName=SLIPS_TABLE,
        Item={
            "user_id": {"S": sub},
            "sk": {"S": added_sk},
            "date": {"S": added_sk[:10]},
            "kind": {"S": "expense"},
            "category": {"S": "食費"},
            "account": {"S": "cash"},
            "amount": {"N": "-123"},
            "memo": {"S": "アーカイブにない伝票"},
        },
    )
    dynamodb.put_item(TableName=BALANCES_TABLE, Item={**balances[0], "balance": {"N": "1"}})
    before_restore = {
        table: _period_items(dynamodb, name, sub, start, end)
        for table, name in RESTORE_TABLES.items()
    }

    # Upload the file from the PC: the form posts straight to S3, which sends
    # the browser back to the site.
    page.goto(f"{stack.url}/")
    page.get_by_role("link", name="PC のファイルから復元…").click()
    page.wait_for_url(f"{stack.url}/restore/upload")
    assert page.title() == "PC のファイルから復元 · 家計簿エクスポート"
    upload_problems = _axe_problems(page)
    page.get_by_label("アーカイブ（.zip）").set_input_files(saved)
    page.get_by_role("button", name="アップロード", exact=True).click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/restore/uploaded?")))
    assert page.get_by_text(re.compile("^ファイルが届きました。")).is_visible()
    assert re.fullmatch(r"\d[\d.,]* (KB|MB)", page.locator("dl.facts dd").last.inner_text())
    uploaded = _aws(stack, "s3").list_objects_v2(Bucket=BUCKET, Prefix=f"uploads/{sub}/")
    assert uploaded["KeyCount"] == 1
    assert uploaded["Contents"][0]["Size"] == saved.stat().st_size
    page.get_by_role("button", name="何が変わるか確認する").click()

    # The check runs as a job; without JavaScript the page refreshes until it is done.
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/restore/jobs/")))
    preview_url = page.url
    page.get_by_text("確認しました。復元で何が変わるかは下をご覧ください。").wait_for(
        timeout=30_000
    )
    assert page.title() == "復元で変わること · 家計簿エクスポート"
    columns = ("アーカイブ内", "今の家計簿にない", "変更あり", "変更なし", "今の家計簿にだけある")
    n, b = len(slips), len(balances)
    assert _counts_table(page) == {
        "伝票": dict(zip(columns, map(str, (n, 3, 1, n - 4, 1)), strict=True)),
        "残高": dict(zip(columns, map(str, (b, 0, 1, b - 1, 0)), strict=True)),
    }
    # The changed slip as the household knows it: its day, memo and amount in yen, never its key.
    example = page.locator(".sample").filter(has_text="ブラウザテストで変更")
    assert example.count() == 1
    was = int(slips[3]["amount"]["N"])
    assert f"金額\n今は-￥777 → アーカイブでは-￥{-was:,}" in example.inner_text()
    added = page.locator(".sample").filter(has_text="アーカイブにない伝票")
    assert "食費" in added.inner_text() and "-￥123" in added.inner_text()
    assert slips[3]["sk"]["S"] not in page.content() and added_sk not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "restore-preview-page.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "restore-preview-page-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    _row_names_stay_whole_in_english(page)
    preview_problems = _axe_problems(page)
    assert before_restore == {
        table: _period_items(dynamodb, name, sub, start, end)
        for table, name in RESTORE_TABLES.items()
    }, "the preview wrote something"

    # A replace without the typed word is refused next to the field.
    # The whole card is the radio's label (it lies over the input): click it as people do.
    page.locator("label", has_text=re.compile("^置き換え：")).click()
    assert page.get_by_role("radio", name=re.compile("^置き換え：")).is_checked()
    page.get_by_role("button", name="復元", exact=True).click()
    confirm = page.get_by_label(re.compile("^置き換える場合は"))
    assert confirm.get_attribute("aria-invalid") == "true"
    assert "確認のため「置き換え」と入力してください。" in (
        page.locator("#confirm-error").inner_text()
    )
    assert page.get_by_role("radio", name=re.compile("^置き換え：")).is_checked()
    confirm.fill("replace")
    # The same check open in a second tab: without JavaScript, what a second click sends.
    stale = page.context.new_page()
    stale.goto(preview_url)
    stale.locator("label", has_text=re.compile("^置き換え：")).click()
    stale.get_by_label(re.compile("^置き換える場合は")).fill("replace")
    page.get_by_role("button", name="復元", exact=True).click()

    page.wait_for_url(re.compile(re.escape(f"{stack.url}/restore/jobs/")))
    assert page.url != preview_url
    restore_url = page.url
    stale.get_by_role("button", name="復元", exact=True).click()
    assert stale.get_by_role("heading", name="この確認はすでに使われています").is_visible()
    stale.get_by_role("link", name="その復元を見る").click()
    assert stale.url == restore_url  # the one restore the check started
    stale.close()
    page.get_by_text("復元しました。", exact=True).wait_for(timeout=30_000)
    assert page.title() == "復元 · 家計簿エクスポート"
    assert page.get_by_role("heading", name=re.compile("のアーカイブを復元しました$")).is_visible()
    caption = page.locator("table.table--counts caption").inner_text()
    assert re.fullmatch(r"置き換えによる復元の結果です（\d+(\.\d)?秒）。", caption), caption
    columns = ("書き込んだもの", "削除したもの", "変更なし", "残したもの")
    assert _counts_table(page) == {
        "伝票": dict(zip(columns, map(str, (4, 1, n - 4, 0)), strict=True)),
        "残高": dict(zip(columns, map(str, (1, 0, b - 1, 0)), strict=True)),
    }
    assert page.get_by_role("button", name="この復元を取り消す…").is_visible()
    page.screenshot(path=str(ARTIFACTS / "restore-result-page.png"), full_page=True)
    result_problems = _axe_problems(page)

    # The data of the period is exactly the archive's again ...
    for table, name in RESTORE_TABLES.items():
        assert _period_items(dynamodb, name, sub, start, end) == archived[table], table
    # ... the upload has gone, and the way back holds the table as it was before.
    uploaded = _aws(stack, "s3").list_objects_v2(Bucket=BUCKET, Prefix=f"uploads/{sub}/")
    assert uploaded["KeyCount"] == 0
    with page.expect_download() as info:
        page.get_by_role("link", name="復元前の状態のアーカイブをダウンロード").click()
    undo = tmp_path / f"undo-{info.value.suggested_filename}"
    info.value.save_as(undo)
    undo_manifest, undo_items = _archive_items(undo)
    assert undo_manifest["range"] == manifest["range"]
    assert undo_items == before_restore

    # The exports page names the undo archive for what it is.
    page.get_by_role("link", name="エクスポートのページへ").click()
    page.wait_for_url(f"{stack.url}/")
    newest, exported = page.locator("tr.archive").all()[:2]
    label = newest.locator(".archive__label").inner_text()
    assert re.fullmatch(r".+にPC のファイル( \S+)?から復元する前の状態", label), label
    period = f"{start.year}年{start.month}月{start.day}日～{end.year}年{end.month}月{end.day}日"
    assert period in newest.inner_text()
    assert period in exported.inner_text()
    assert exported.locator(".archive__label").count() == 0

    # Undo: one check of what it puts back, one button; the period is as it was before.
    newest.get_by_role("button", name=re.compile("^その復元を取り消す…")).click()
    page.get_by_text("確認しました。復元で何が変わるかは下をご覧ください。").wait_for(
        timeout=30_000
    )
    assert page.get_by_role("heading", name=re.compile("の復元を取り消す$")).is_visible()
    assert page.get_by_role("radio").count() == 0  # an undo always replaces
    undo_problems = _axe_problems(page)
    page.get_by_role("button", name="復元を取り消す", exact=True).click()
    page.get_by_text("復元しました。", exact=True).wait_for(timeout=30_000)
    assert page.get_by_role("heading", name="取り消しました").is_visible()
    assert page.get_by_role("button", name="この取り消しを取り消す…").is_visible()
    assert {
        table: _period_items(dynamodb, name, sub, start, end)
        for table, name in RESTORE_TABLES.items()
    } == before_restore

    assert upload_problems == [], upload_problems
    assert undo_problems == [], undo_problems
    assert preview_problems == [], preview_problems
    assert result_problems == [], result_problems


def _restore_jobs(dynamodb: Any, sub: str) -> list[Item]:
    """Return the user's restore jobs, read straight from the app table."""
    answer = dynamodb.query(
        TableName=APP_TABLE,
        KeyConditionExpression="user_id = :sub AND begins_with(sk, :jobs)",
        FilterExpression="kind = :restore",
        ExpressionAttributeValues={
            ":sub": {"S": sub},
            ":jobs": {"S": "job#"},
            ":restore": {"S": "restore"},
        },
    )
    items: list[Item] = answer["Items"]
    return items


@pytest.mark.parametrize("page", [True], ids=["js-on"], indirect=True)
def test_with_javascript_restore_an_archive_of_the_list_by_merging(stack: Stack, page: Any) -> None:
    """The row's "Restore…" link, a merge: missing items come back, newer ones stay."""
    _sign_in(page, stack, OTHER_EMAIL)
    page.get_by_role("link", name="今月", exact=True).click()
    start = date.fromisoformat(page.get_by_label("開始日", exact=True).input_value())
    end = date.fromisoformat(page.get_by_label("終了日", exact=True).input_value())
    page.get_by_role("button", name="エクスポート", exact=True).click()
    row = page.locator("tr.archive--new")
    row.wait_for(timeout=30_000)

    dynamodb = _aws(stack, "dynamodb")
    # The partition key is the user's sub: ask the pool for it.
    cognito = _aws(stack, "cognito-idp")
    pool = cognito.list_user_pools(MaxResults=10)["UserPools"][0]["Id"]
    attributes = cognito.admin_get_user(UserPoolId=pool, Username=OTHER_EMAIL)["UserAttributes"]
    sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
    slips = _period_items(dynamodb, SLIPS_TABLE, sub, start, end)
    balances = _period_items(dynamodb, BALANCES_TABLE, sub, start, end)
    gone = slips[0]
    dynamodb.delete_item(TableName=SLIPS_TABLE, Key={"user_id": gone["user_id"], "sk": gone["sk"]})
    # Added after the export: sorts after every slip of the period (ids are hex).
    newer = {
        **slips[-1],
        "sk": {"S": f"{end.isoformat()}#zz-browser-test"},
        "date": {"S": end.isoformat()},
    }
    dynamodb.put_item(TableName=SLIPS_TABLE, Item=newer)

    row.get_by_role("link", name=re.compile("^復元…")).click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/restore/archives/")))
    start_problems = _axe_here(page)
    page.get_by_role("button", name="何が変わるか確認する").click()
    # The script polls the job and reloads the page once it is done.
    page.get_by_text("確認しました。復元で何が変わるかは下をご覧ください。").wait_for(
        timeout=30_000
    )
    # Focus lands on the outcome, so a screen reader reads it after the reload.
    page.wait_for_url(re.compile(r"#outcome$"))
    focused = "document.activeElement && document.activeElement.textContent.trim()"
    assert page.evaluate(focused) == "確認しました。復元で何が変わるかは下をご覧ください。"
    n, b = len(slips), len(balances)
    columns = ("アーカイブ内", "今の家計簿にない", "変更あり", "変更なし", "今の家計簿にだけある")
    assert _counts_table(page) == {
        "伝票": dict(zip(columns, map(str, (n, 1, 0, n - 1, 1)), strict=True)),
        "残高": dict(zip(columns, map(str, (b, 0, 0, b, 0)), strict=True)),
    }
    # The slip that went and the one that came, as slips; nothing changed in place.
    assert page.locator(".sample").count() == 2
    assert page.locator(".sample__changes").count() == 0
    preview_problems = _axe_here(page)
    assert page.get_by_role("radio", name=re.compile("^統合：")).is_checked()
    # A double click sends the form once (and the server would refuse a second anyway).
    restores_before = len(_restore_jobs(dynamodb, sub))
    page.get_by_role("button", name="復元", exact=True).dblclick()  # a merge needs no word

    page.get_by_text("復元しました。", exact=True).wait_for(timeout=30_000)
    assert page.evaluate(focused) == "復元しました。"
    columns = ("書き込んだもの", "削除したもの", "変更なし", "残したもの")
    assert _counts_table(page) == {
        "伝票": dict(zip(columns, map(str, (1, 0, n - 1, 1)), strict=True)),
        "残高": dict(zip(columns, map(str, (0, 0, b, 0)), strict=True)),
    }
    result_problems = _axe_here(page)
    assert _period_items(dynamodb, SLIPS_TABLE, sub, start, end) == [*slips, newer]
    assert _period_items(dynamodb, BALANCES_TABLE, sub, start, end) == balances
    assert len(_restore_jobs(dynamodb, sub)) == restores_before + 1

    assert start_problems == [], start_problems
    assert preview_problems == [], preview_problems
    assert result_problems == [], result_problems


@pytest.mark.parametrize("page", [True], ids=["js-on"], indirect=True)
def test_with_javascript_the_upload_form_names_the_file_and_refuses_what_is_no_zip(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    """The chosen file's name and size show at once; a .txt cannot be sent; a .zip is named."""
    _sign_in(page, stack, OTHER_EMAIL)
    page.get_by_role("link", name="先月", exact=True).click()
    page.get_by_role("button", name="エクスポート", exact=True).click()
    row = page.locator("tr.archive--new")
    row.wait_for(timeout=30_000)
    with page.expect_download() as info:
        row.get_by_role("link", name=re.compile("^ダウンロード")).click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    text = tmp_path / "memo.txt"
    text.write_text("25 bytes of plain text..\n")

    page.goto(f"{stack.url}/restore/upload")
    chooser = page.get_by_label("アーカイブ（.zip）")
    chooser.set_input_files(text)
    chosen = page.locator("#file-chosen")
    assert chosen.inner_text().startswith(
        "memo.txt (25 バイト) — そのファイルは zip ファイルではありません。"
    )
    assert page.get_by_role("button", name="アップロード", exact=True).is_disabled()
    chooser.set_input_files(saved)
    assert re.fullmatch(re.escape(saved.name) + r" \(\d[\d.,]* (KB|MB)\)", chosen.inner_text()), (
        chosen.inner_text()
    )
    page.get_by_role("button", name="アップロード", exact=True).click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/restore/uploaded?")))
    assert page.locator("dl.facts dd").first.inner_text() == saved.name


def _run_schedule(stack: Stack) -> str:
    """Run ``flask run-schedule`` against the stack's moto, as README shows; return its output."""
    from webapp.local.stack import JOBS_QUEUE

    queue_url = _aws(stack, "sqs").get_queue_url(QueueName=JOBS_QUEUE)["QueueUrl"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": stack.moto_origin,
        "EXPORT_BUCKET": BUCKET,
        "SLIPS_TABLE": SLIPS_TABLE,
        "BALANCES_TABLE": BALANCES_TABLE,
        "COGNITO_USER_POOL_ID": "unused",
        "COGNITO_CLIENT_ID": "unused",
        "APP_TABLE": APP_TABLE,
        "JOBS_QUEUE_URL": queue_url,
        "SECRET_KEY": "unused-by-the-command",
        "ARCHIVE_KEY": "unused-by-the-dispatcher-0123456789abcdef",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "run-schedule"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_turn_on_automatic_backups_run_the_schedule_download_turn_off(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    _sign_in(page, stack)
    page.goto(f"{stack.url}/")
    section = page.locator("section.backups")
    assert section.get_by_role("heading", name="自動バックアップ").is_visible()
    section.locator("label", has_text="毎週").click()
    section.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))
    # The confirmation is in the section, where the page came back to, and promises the
    # very next run the section shows.
    section = page.locator("section.backups")
    saved = section.locator("#backups-saved")
    assert saved.is_visible() and saved.inner_text().startswith(
        "自動バックアップをオンにしました。"
    )
    assert page.url.endswith("#backups-saved")
    assert section.get_by_text("次回のバックアップ", exact=True).is_visible()
    shown = section.locator("dd time").first.inner_text()
    assert shown in saved.inner_text()
    problems = _axe_problems(page)
    assert not problems, problems

    assert "1 queued" in _run_schedule(stack)
    assert "0 queued, 1 already queued" in _run_schedule(stack)  # twice a day: nothing more

    # The stack's worker thread makes the backup, then records the outcome on the
    # setting; reload until both show. While the job is unfinished the page refreshes
    # itself too, which may abort our navigation.
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + 60
    while True:
        link = page.locator("section.backups").get_by_role("link", name=re.compile("^ダウンロード"))
        outcome = page.locator("section.backups").get_by_text("前回のバックアップ")
        try:
            page.goto(f"{stack.url}/")
            page.wait_for_load_state()
            if link.count() and outcome.count():
                break
        except PlaywrightError:
            pass
        assert time.monotonic() < deadline, page.content()
        time.sleep(1)
    assert page.locator("section.backups").get_by_text("前回のバックアップ").is_visible()
    with page.expect_download() as info:
        link.first.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    manifest, archived = _archive_items(saved)
    sub = manifest["user_sub"]
    # Everything the user has, whatever its date.
    dynamodb = _aws(stack, "dynamodb")
    for table, name in (("slips", SLIPS_TABLE), ("balances", BALANCES_TABLE)):
        count = 0
        request: dict[str, Any] = {
            "TableName": name,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": sub}},
            "Select": "COUNT",
        }
        while True:
            answer = dynamodb.query(**request)
            count += answer["Count"]
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        assert len(archived[table]) == count > 0, table

    section = page.locator("section.backups")
    section.locator("label", has_text="オフ").click()
    section.get_by_role("button", name="保存").click()
    assert section.get_by_text("自動バックアップをオフにしました。").is_visible()
    section = page.locator("section.backups")
    assert not section.get_by_text("次回のバックアップ", exact=True).count()
    assert section.get_by_role("link", name=re.compile("^ダウンロード")).count() == 1


def test_an_export_filtered_to_one_account_holds_only_its_slips_and_says_so(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    """The first export teaches the form the accounts; a filtered one keeps only one of them."""
    _sign_in(page, stack, OTHER_EMAIL)
    page.get_by_role("link", name="先月", exact=True).click()
    page.get_by_role("button", name="エクスポート", exact=True).click()
    page.locator(".flash--success").wait_for(timeout=30_000)

    # The filters sit closed under a disclosure; the accounts are the user's own now.
    page.get_by_text("一部の伝票だけ（絞り込み・任意）").click()
    assert page.get_by_role("checkbox", name="銀行", exact=True).is_visible()
    assert page.get_by_role("checkbox", name="支出", exact=True).is_visible()
    page.get_by_role("checkbox", name="カード", exact=True).check()
    filters_problems = _axe_problems(page)
    page.get_by_role("button", name="エクスポート", exact=True).click()
    page.locator(".flash--success").wait_for(timeout=30_000)
    # The form comes back with the choice kept, the filters open.
    assert page.get_by_role("checkbox", name="カード", exact=True).is_checked()
    assert not page.get_by_role("checkbox", name="現金", exact=True).is_checked()

    link = page.locator("tr.archive--new").get_by_role("link", name=re.compile("^ダウンロード"))
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "filtered.zip"
    info.value.save_as(saved)
    manifest, archived = _archive_items(saved)
    assert manifest["filters"] == {"accounts": ["card"]}
    start, end = (date.fromisoformat(manifest["range"][k]) for k in ("start", "end"))
    dynamodb = _aws(stack, "dynamodb")
    for table, name in RESTORE_TABLES.items():
        every = _period_items(dynamodb, name, manifest["user_sub"], start, end)
        wanted = [item for item in every if item.get("account") == {"S": "card"}]
        assert wanted and len(wanted) < len(every), table
        assert archived[table] == wanted, table
    assert filters_problems == [], filters_problems


def _export_and_wait(page: Any) -> None:
    """Press Export and wait (the page refreshes itself without JavaScript) for the archive."""
    page.get_by_role("button", name="エクスポート", exact=True).click()
    page.locator(".flash--success").wait_for(timeout=30_000)


def test_the_list_says_what_each_archive_holds_and_delete_asks_first(
    stack: Stack, page: Any
) -> None:
    _sign_in(page, stack)
    page.get_by_role("link", name="昨年", exact=True).click()
    start = date.fromisoformat(page.get_by_label("開始日", exact=True).input_value())
    end = date.fromisoformat(page.get_by_label("終了日", exact=True).input_value())
    expected = _expected_counts(start, end)
    counts = f"伝票 {expected['slips']:,}件と残高 {expected['balances']:,}件"

    # The radio buttons themselves take the click (the label's card no longer covers them).
    csv_only = page.locator('input[name="formats"][value="csv"]')
    shift_jis = page.locator('input[name="csv_encoding"][value="cp932"]')
    csv_only.click()
    shift_jis.click()
    assert csv_only.is_checked() and shift_jis.is_checked()
    _export_and_wait(page)
    # The form keeps the choices; the page opened on the new archive's row.
    assert csv_only.is_checked() and shift_jis.is_checked()
    assert page.get_by_label("開始日", exact=True).input_value() == start.isoformat()
    assert re.search(r"#job-[0-9TZ]+-[0-9a-f]+$", page.url), page.url
    assert page.locator("tr.archive--new .archive__anchor").count() == 1

    page.locator('input[name="formats"][value="both"]').click()
    page.locator('input[name="csv_encoding"][value="utf-8"]').click()
    _export_and_wait(page)

    rows = page.locator("section.archives tr.archive")
    assert rows.count() == 2
    newer, older = (rows.nth(i).locator(".archive__holds") for i in (0, 1))
    assert newer.locator(".archive__formats").inner_text() == "CSV + DynamoDB JSON"
    assert older.locator(".archive__formats").inner_text() == "CSV（Shift_JIS）"
    assert newer.locator(".archive__counts").inner_text() == counts
    assert older.locator(".archive__counts").inner_text() == counts
    assert rows.nth(0).locator(".archive__left").inner_text() == "7日後"
    list_problems = _axe_problems(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "exports-list-holds.png"), full_page=True)

    # Delete one: a confirmation page names the archive and what it holds.
    rows.nth(1).get_by_role("link", name=re.compile("^削除…")).click()
    assert page.get_by_role("heading", name="このアーカイブを削除しますか？").is_visible()
    assert page.get_by_text("CSV（Shift_JIS）").is_visible()
    assert page.get_by_text(f"{start.year}年1月1日").first.is_visible()
    confirm_problems = _axe_problems(page)
    # "Keep it" goes back with nothing deleted.
    page.get_by_role("link", name="削除しない").click()
    assert page.locator("section.archives tr.archive").count() == 2
    rows.nth(1).get_by_role("link", name=re.compile("^削除…")).click()
    page.get_by_role("button", name="このアーカイブを削除").click()
    page.wait_for_url(f"{stack.url}/")
    assert page.get_by_text("のアーカイブを削除しました。").is_visible()
    assert page.locator("section.archives tr.archive").count() == 1

    # Delete all: the same two steps.
    page.get_by_role("link", name="すべてのアーカイブを削除…").click()
    assert page.get_by_role("heading", name="すべてのアーカイブを削除しますか？").is_visible()
    all_problems = _axe_problems(page)
    page.get_by_role("button", name="すべてのアーカイブを削除").click()
    page.wait_for_url(f"{stack.url}/")
    assert page.get_by_text("アーカイブ1件を削除しました。").is_visible()
    assert page.get_by_text("アーカイブはまだありません").is_visible()

    assert list_problems == [], list_problems
    assert confirm_problems == [], confirm_problems
    assert all_problems == [], all_problems


def _new_user(stack: Stack, email: str) -> None:
    """Create a confirmed user (password ``DEMO_PASSWORD``) in the stack's pool."""
    from webapp.identity.cognito import create_user

    cognito = _aws(stack, "cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    create_user(cognito, pool["Id"], email, DEMO_PASSWORD)


def test_forgot_password_mails_a_code_then_the_new_password_signs_in(
    stack: Stack, page: Any
) -> None:
    email = "forgetful@example.com"
    _new_user(stack, email)
    page.goto(f"{stack.url}/login")
    page.get_by_role("link", name="パスワードをお忘れですか？").click()
    page.wait_for_url(f"{stack.url}/login/forgot")
    assert page.get_by_role("heading", name="パスワードの再設定").is_visible()
    problems = _axe_problems(page)
    assert not problems, problems
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_role("button", name="コードをメールで受け取る").click()
    page.wait_for_url(f"{stack.url}/login/reset")
    assert page.get_by_text(f"{email} がアカウントのメールアドレスであれば").is_visible()
    assert page.get_by_label("メールアドレス").input_value() == email
    problems = _axe_problems(page)
    assert not problems, problems

    # moto sends no mail: local mode prints the code it would have sent.
    deadline = time.monotonic() + 10
    while not (found := re.findall(r"password reset code is (\S+)", stack.output())):
        assert time.monotonic() < deadline, stack.output()
        time.sleep(0.2)
    new_password = "Forgotten-Passw0rd"
    page.get_by_label("メールに書かれたコード").fill(found[-1])
    # A weak one first: the pool's rules, in the site's words.
    page.get_by_label("新しいパスワード", exact=True).fill("weak")
    page.get_by_label("新しいパスワード（確認）").fill("weak")
    page.get_by_role("button", name="新しいパスワードを設定する").click()
    assert page.get_by_text("もっと強いパスワードにしてください。12文字以上").is_visible()
    page.get_by_label("新しいパスワード", exact=True).fill(new_password)
    page.get_by_label("新しいパスワード（確認）").fill(new_password)
    page.get_by_role("button", name="新しいパスワードを設定する").click()
    page.wait_for_url(f"{stack.url}/login")
    assert page.get_by_text("パスワードを変更しました。").is_visible()
    page.screenshot(path=str(ARTIFACTS / "password-reset-done.png"), full_page=True)

    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(new_password)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(f"{stack.url}/")


def test_set_up_an_authenticator_app_then_sign_in_with_its_code(stack: Stack, page: Any) -> None:
    from support import totp_code

    email = "careful@example.com"
    _new_user(stack, email)
    _sign_in(page, stack, email)
    page.get_by_role("link", name="アカウント").click()
    page.wait_for_url(f"{stack.url}/account")
    page.get_by_role("button", name="認証アプリを設定する").click()
    page.wait_for_url(f"{stack.url}/account/authenticator")
    qr = page.get_by_role("img", name="認証アプリで読み取る QR コード")
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box and box["width"] >= 150 and abs(box["width"] - box["height"]) < 1
    secret = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7 ]+", secret), secret
    page.screenshot(path=str(ARTIFACTS / "authenticator-setup.png"), full_page=True)
    problems = _axe_problems(page)
    assert not problems, problems

    page.get_by_label("6桁のコード").fill(totp_code(secret))
    page.get_by_role("button", name="コードを確認してオンにする").click()
    page.wait_for_url(f"{stack.url}/account")
    assert page.get_by_text("認証アプリを設定しました。").is_visible()

    page.get_by_role("button", name="サインアウト", exact=True).click()
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(f"{stack.url}/login/mfa")
    page.get_by_label("6桁のコード").fill(totp_code(secret))
    page.get_by_role("button", name="確認してサインイン").click()
    page.wait_for_url(f"{stack.url}/")


def test_sign_out_everywhere_ends_the_other_browsers_session(
    browser: Any, page: Any, stack: Stack, tmp_path: Path
) -> None:
    _sign_in(page, stack)
    other = browser.new_context(java_script_enabled=False, locale="ja-JP")
    try:
        phone = other.new_page()
        _sign_in(phone, stack)
        saved = page.context.cookies()
        assert _axe_problems(page) == []
        page.screenshot(path=str(tmp_path / "header-with-sign-out-everywhere.png"))

        # The header only opens a page that says what it ends and asks first.
        page.get_by_role("link", name="すべての端末でサインアウト…").click()
        page.wait_for_url(f"{stack.url}/logout/everywhere")
        assert page.get_by_role("heading", name="すべての端末でサインアウトしますか？").is_visible()
        assert _axe_problems(page) == []
        page.get_by_role("button", name="すべての端末でサインアウト", exact=True).click()

        page.wait_for_url(re.compile(r"/login"))
        assert page.get_by_text("すべての端末でサインアウトしました。").is_visible()
        phone.goto(f"{stack.url}/")
        assert phone.url.startswith(f"{stack.url}/login")
        # The other browser's next page says why.
        assert phone.get_by_text("すべての端末でサインアウトされました").is_visible()
        # The cookie saved before signing out opens nothing either.
        replay = browser.new_context(java_script_enabled=False, locale="ja-JP")
        try:
            replay.add_cookies(saved)
            thief = replay.new_page()
            thief.goto(f"{stack.url}/")
            assert thief.url.startswith(f"{stack.url}/login")
        finally:
            replay.close()
    finally:
        other.close()


def test_a_failed_backup_warns_and_offers_back_up_now_in_both_languages(
    stack: Stack, page: Any
) -> None:
    from webapp.jobs.readback import BACKUP_DAMAGED
    from webapp.jobs.schedule import BackupPrefsStore
    from webapp.local.stack import APP_TABLE

    email = "failed-backup@example.com"
    _new_user(stack, email)
    cognito = _aws(stack, "cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    attributes = cognito.admin_get_user(UserPoolId=pool["Id"], Username=email)["UserAttributes"]
    sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
    # Last night's weekly backup did not read back intact.
    prefs = BackupPrefsStore(_aws(stack, "dynamodb"), APP_TABLE)
    prefs.choose(sub, "weekly", today=date(2026, 11, 1), email=email)
    failed_at = datetime(2026, 12, 2, 18, 0, tzinfo=ZoneInfo("UTC"))
    outcome = {"at": failed_at.isoformat(), "state": "failed", "error": BACKUP_DAMAGED}
    prefs.record(sub, outcome, next_run=None)

    _sign_in(page, stack, email)
    warning = page.locator("#backup-warning")
    assert warning.get_by_text(
        "2026年12月3日 3:00の毎週の自動バックアップに失敗しました"
    ).is_visible()
    assert warning.get_by_text("読み直すと正しく読めなかったため削除しました").is_visible()
    assert warning.get_by_role("button", name="今すぐバックアップ").is_visible()
    japanese_problems = _axe_problems(page)
    warning.screenshot(path=str(ARTIFACTS / "backup-failed.png"))

    page.get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))
    warning = page.locator("#backup-warning")
    assert warning.get_by_text("Your last weekly backup failed on Dec 3, 2026").is_visible()
    assert warning.get_by_text("did not read back intact").is_visible()
    english_problems = _axe_problems(page)
    warning.screenshot(path=str(ARTIFACTS / "backup-failed-en.png"))

    # The button runs the backup at once; the page says so (the worker thread makes it).
    warning.get_by_role("button", name="Back up now").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))
    assert page.get_by_text("The backup has started.").is_visible()
    page.get_by_role("button", name="日本語").click()
    page.wait_for_url(re.compile(re.escape(f"{stack.url}/")))

    assert japanese_problems == [], japanese_problems
    assert english_problems == [], english_problems


def test_put_the_book_back_to_just_before_a_change_then_undo(stack: Stack, page: Any) -> None:
    """Change a few slips, pick "just before" from the changes, check, confirm, undo (no JS)."""
    email = "moments@example.com"
    _new_user(stack, email)
    cognito = _aws(stack, "cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    attributes = cognito.admin_get_user(UserPoolId=pool["Id"], Username=email)["UserAttributes"]
    sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
    dynamodb = _aws(stack, "dynamodb")
    slips = [
        {
            "user_id": {"S": sub},
            "sk": {"S": f"2026-03-{1 + n:02d}#moment-{n}"},
            "date": {"S": f"2026-03-{1 + n:02d}"},
            "kind": {"S": "expense"},
            "memo": {"S": f"買い物 {n}"},
            "amount": {"N": str(-500 - n)},
        }
        for n in range(5)
    ]
    for item in slips:
        dynamodb.put_item(TableName=SLIPS_TABLE, Item=item)
    time.sleep(1.5)  # the local recorder reads the stream every 0.2 s
    for item in slips[:3]:
        dynamodb.delete_item(
            TableName=SLIPS_TABLE, Key={"user_id": item["user_id"], "sk": item["sk"]}
        )
    time.sleep(1.5)

    def now_in_table() -> list[Item]:
        return _period_items(dynamodb, SLIPS_TABLE, sub, date(2026, 3, 1), date(2026, 3, 31))

    after = now_in_table()
    assert len(after) == 2
    _sign_in(page, stack, email)
    page.get_by_role("link", name="ある時点に戻す…").click()
    page.get_by_text("伝票3件を削除（2026年3月）").wait_for()
    moments_problems = _axe_problems(page)
    page.get_by_role("button", name="この直前に戻す…").first.click()
    # Without JavaScript the check's page reloads itself until the check is done.
    page.get_by_role("button", name="この状態に戻す").wait_for(timeout=60_000)
    assert "家計簿を" in page.locator("h1").inner_text()
    check_problems = _axe_problems(page)
    page.get_by_role("button", name="この状態に戻す").click()
    page.get_by_role("button", name="この復元を取り消す…").wait_for(timeout=60_000)
    assert now_in_table() == sorted(slips, key=lambda item: item["sk"]["S"])

    page.get_by_role("button", name="この復元を取り消す…").click()
    page.get_by_role("button", name="復元を取り消す").wait_for(timeout=60_000)
    page.get_by_role("button", name="復元を取り消す").click()
    page.get_by_text("取り消しました").first.wait_for(timeout=60_000)
    assert now_in_table() == after
    assert moments_problems == [], moments_problems
    assert check_problems == [], check_problems

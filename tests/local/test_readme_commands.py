"""The README's "Try the commands locally", followed literally against `make run` (issue 16).

The section's blocks carry markers: ``<!-- local: banner -->`` (what ``make run``
prints), ``<!-- local: run -->`` (shell to paste) and ``<!-- local: output -->``
(what the block before prints). ``python -m webapp.local`` runs on free ports; each
run block goes to bash after the banner's own ``export`` lines, in a clean
environment, and its output must match the sample (``…`` matches what changes
from run to run). The archive the restore commands read is downloaded through the
page, as the README tells the reader to.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from support import LocalRun

from webapp.local.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- local: (banner|run|output) -->\n```(\w+)\n(.*?)\n```", re.S)
#: The README's app address; the test's stack runs on a free port instead.
README_PORT = "5000"


def readme_blocks() -> list[tuple[str, str]]:
    """Return the marked blocks of README.md as (kind, text), in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(kind, body) for kind, _lang, body in MARKER.findall(text)]


def matches(sample: str, actual: str) -> bool:
    """Tell whether ``actual`` is ``sample`` line by line, ``…`` matching any text."""
    want = [line.rstrip() for line in sample.strip("\n").splitlines()]
    got = [line.rstrip() for line in actual.strip("\n").splitlines()]
    if len(want) != len(got):
        return False
    patterns = [re.compile(".+?".join(map(re.escape, line.split("…")))) for line in want]
    return all(p.fullmatch(line) for p, line in zip(patterns, got, strict=True))


def test_matches_treats_the_ellipsis_as_a_wildcard_only() -> None:
    assert matches("sub …\nok", "sub 1234\nok\n")
    assert not matches("sub …", "sub ")
    assert not matches("0 new", "1 new")
    assert not matches("a\nb", "a")


def banner_of(output: str) -> str:
    """Return the banner: from the line after "Starting …" to "Press Ctrl-C to stop."."""
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("Starting local AWS"))
    last = next(i for i, line in enumerate(lines) if "Press Ctrl-C to stop." in line)
    return "\n".join(lines[first + 1 : last + 1])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """`make run`'s process on free ports, until the module's tests are done."""
    run = LocalRun(tmp_path_factory.mktemp("local") / "local.log")
    try:
        run.wait_until_serving()
        yield run
    finally:
        run.terminate(timeout=5)
        run.kill()


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the project directory: its .venv and code, and room for archive.zip."""
    here = tmp_path_factory.mktemp("project")
    for name in (".venv", "webapp", "templates", "static"):
        (here / name).symlink_to(ROOT / name)
    return here


def test_the_banner_is_the_readme_sample(local_run: LocalRun) -> None:
    samples = [body for kind, body in readme_blocks() if kind == "banner"]
    assert len(samples) == 1
    sample = samples[0].replace(f"127.0.0.1:{README_PORT}/", f"127.0.0.1:{local_run.port}/")
    banner = banner_of(local_run.output())
    assert matches(sample, banner), f"README:\n{sample}\n\nprinted:\n{banner}"


def _download_archive(url: str, into: Path) -> None:
    """Sign in as the demo user, export last year as CSV and JSON, download it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def token(page: bytes) -> str:
        found = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert found, page[:2000]
        return found.group(1).decode()

    def post(path: str, page: bytes, **fields: str) -> urllib.response.addinfourl:
        body = urllib.parse.urlencode({"csrf_token": token(page), **fields}).encode()
        return opener.open(f"{url}{path}", data=body, timeout=30)

    login = opener.open(f"{url}/login", timeout=30).read()
    home = post("/login", login, email="demo@example.com", password=DEMO_PASSWORD).read()
    year = date.today().year - 1
    with post(
        "/exports",
        home,
        start=f"{year}-01-01",
        end=f"{year}-12-31",
        formats="both",
        csv_encoding="utf-8",
    ) as answer:
        job = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.geturl()).query)["job"][0]
    deadline = time.monotonic() + 30
    while True:
        with opener.open(f"{url}/jobs/{job}", timeout=30) as answer:
            status = json.load(answer)
        if not status["unfinished"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status["state"] == "done", status
    with opener.open(f"{url}/exports/{status['archive_id']}", timeout=30) as answer:
        into.write_bytes(answer.read())


def test_the_readme_commands_run_as_written(local_run: LocalRun, project_dir: Path) -> None:
    exports = [line for line in local_run.output().splitlines() if line.startswith("export ")]
    blocks = readme_blocks()
    runs = [i for i, (kind, _) in enumerate(blocks) if kind == "run"]
    assert len(runs) >= 4, "the README lost its local commands"
    _download_archive(local_run.url, project_dir / "archive.zip")
    # A fresh terminal: no AWS settings but the pasted ones.
    clean = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    for i in runs:
        script = "\n".join(["set -euo pipefail", *exports, blocks[i][1]])
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=project_dir,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{blocks[i][1]}\nexit {done.returncode}:\n{output}"
        if i + 1 < len(blocks) and blocks[i + 1][0] == "output":
            sample = blocks[i + 1][1]
            assert matches(sample, output), f"{blocks[i][1]}\nREADME:\n{sample}\n\ngot:\n{output}"

"""The deploy, proved without an AWS account.

- ``.ci/package_lambda.py`` builds a deterministic zip; its handler runs under CPython
  3.12 on real API Gateway HTTP API events against moto.
- ``osls package`` turns serverless.yml into CloudFormation offline; cfn-lint finds
  nothing; the template holds the security and data-safety promises of the issue.

The zip is built once for this module into ``build/lambda.zip`` (where serverless.yml's
``package.artifact`` points). Tools that may be missing (CPython 3.12, Node.js, osls)
skip these tests with the reason, except under ``CI=true``, where they must run.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import select
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import make_v2_event, osls_package, require

from webapp.aws import SERVICES, Clients
from webapp.identity.cognito import create_user
from webapp.local.stack import provision
from webapp.model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA
from webapp.settings import REQUIRED, Settings

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
STAGE = "ci"
SECRET_PARAMETER = f"/kakeibo-export/{STAGE}/secret-key"
ARCHIVE_PARAMETER = f"/kakeibo-export/{STAGE}/archive-key"
TEMPORARY_PASSWORD = "Temp-Pass-1234-kakeibo"
DATA_RESOURCES = (
    "ExportBucket",
    "AccessLogBucket",
    "SlipsTable",
    "BalancesTable",
    "AppTable",
    "UserPool",
)


_require = require


def _load_packager() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "package_lambda", ROOT / ".ci" / "package_lambda.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


packager = _load_packager()


@pytest.fixture(scope="module")
def python312() -> str:
    """Return a CPython 3.12 interpreter, the Lambda runtime's version."""
    found: str | None = packager.find_python312()
    _require(found is not None, "no CPython 3.12 (python3.12, ~/.pyenv or LAMBDA_PYTHON)")
    assert found
    return found


@pytest.fixture(scope="module")
def lambda_zip() -> Path:
    """Build build/lambda.zip once for this module, exactly as `make package` does."""
    path: Path = packager.build(packager.DEFAULT_OUTPUT)
    return path


@pytest.fixture(scope="module")
def unpacked(lambda_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unpack the zip as Lambda does into /var/task."""
    task = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(task)
    return task


# --- the zip -------------------------------------------------------------------


def test_zip_holds_the_app_and_its_wheels_with_fixed_metadata(lambda_zip: Path) -> None:
    with zipfile.ZipFile(lambda_zip) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    ours = {n for n in names if n.startswith(packager.APP_TREES)}

    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    for needed in (
        "webapp/lambda_handler.py",
        "templates/base.html",
        "static/style.css",
        "flask/__init__.pyc",
        "apig_wsgi/__init__.pyc",
        "boto3/__init__.pyc",
        "botocore/data/ssm/2014-11-06/service-2.json.gz",
        "tzdata/zoneinfo/Asia/Tokyo",
        "webapp/translations/ja/LC_MESSAGES/messages.mo",
        "babel/locale-data/ja.dat",
        "babel/locale-data/en.dat",
        "babel/locale-data/root.dat",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/", ".venv/", "node_modules/"))]
    # Every template also compiled (webapp/web/compiled.py): a cold start draws, never compiles.
    templates = [n for n in names if n.startswith("templates/") and n.endswith(".html")]
    compiled = [n for n in names if n.startswith("compiled-templates/")]
    assert len(compiled) == len(templates) > 20
    assert not [n for n in names if n.startswith("webapp/local/")]
    # Only the languages the site speaks, and root, their parent: not Babel's 1,100
    # locales (test_babel_renders_both_languages_from_the_zip shows that is enough).
    locale_data = {n for n in names if n.startswith("babel/locale-data/") and n.endswith(".dat")}
    assert locale_data == {f"babel/locale-data/{name}.dat" for name in ("en", "ja", "root")}
    # botocore's models for the services the code calls, and what botocore reads to start.
    data = [n.removeprefix("botocore/data/") for n in names if n.startswith("botocore/data/")]
    assert {n.split("/")[0] for n in data if "/" in n} == set(SERVICES.values())
    assert set(packager.BOTOCORE_COMMON_DATA) <= {n for n in data if "/" not in n}
    # No tests, docs, type stubs or pip's stale file lists of any dependency (licences stay).
    for name in names:
        if ".dist-info/" in name:
            assert not name.endswith("/RECORD"), name
            continue
        assert not set(name.split("/")[:-1]) & {"tests", "test", "examples"}, name
        assert not name.endswith((".pyi", "/py.typed", ".rst", ".md", "/examples-1.json")), name
    # Our code with its sources and their bytecode; the dependencies as bytecode only.
    sources = [n for n in names if n.endswith(".py")]
    assert len(sources) > 50 and all(n.startswith("webapp/") for n in sources), sources[:5]
    assert not [n for n in names if "/__pycache__/" in n and ".cpython-312." not in n]
    assert not [n for n in names if n.endswith(".pyc") and "/__pycache__/" not in n and n in ours]
    native = [n for n in names if n.endswith(".so")]
    assert native, "no compiled extension at all: the wheels are missing"
    for name in native:
        assert "cpython-312-x86_64-linux-gnu" in name or name.endswith(".abi3.so"), name
    dists = {n.split("/")[0] for n in names if ".dist-info/" in n}
    assert {"flask-3.1.3.dist-info", "cryptography-50.0.2.dist-info"} <= dists


def test_bytecode_is_hash_checked_and_matches_every_source(unpacked: Path, python312: str) -> None:
    # Run by the 3.12 interpreter itself: the magic number and source hash are its own.
    check = r"""
import importlib.util, pathlib, sys
root = pathlib.Path(sys.argv[1])
bad, count = [], 0
for source in root.rglob("*.py"):
    pyc = pathlib.Path(importlib.util.cache_from_source(str(source)))
    count += 1
    data = pyc.read_bytes() if pyc.exists() else b""
    if not (
        data[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(data[4:8], "little") == 0b01  # hash-based, never checked
        and data[8:16] == importlib.util.source_hash(source.read_bytes())
    ):
        bad.append(str(source.relative_to(root)))
# The dependencies' bytecode, without sources: this interpreter's, and no timestamps.
for pyc in root.rglob("*.pyc"):
    if pyc.parent.name != "__pycache__":
        count += 1
        data = pyc.read_bytes()
        if data[:4] != importlib.util.MAGIC_NUMBER or data[4:8] != (1).to_bytes(4, "little"):
            bad.append(str(pyc.relative_to(root)))
print(count, len(bad), *bad[:5])
"""
    out = subprocess.run(
        [python312, "-I", "-c", check, str(unpacked)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert int(out[0]) > 300
    assert out[1:] == ["0"], out


def test_zip_writing_ignores_file_times_and_creation_order(tmp_path: Path) -> None:
    trees = []
    for n, (order, mtime) in enumerate([(("a", "b/c"), 1_000_000), (("b/c", "a"), 2_000_000)]):
        root = tmp_path / f"tree{n}"
        for name in order:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"content of {name}\n")
            os.utime(path, (mtime, mtime))
        trees.append(root)
    (trees[1] / "a").chmod(0o755)

    packager.write_zip(tmp_path / "one.zip", [trees[0]])
    packager.write_zip(tmp_path / "two.zip", [trees[1]])

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "one.zip").namelist() == ["a", "b/c"]


@pytest.mark.parametrize("beside", [False, True], ids=["in __pycache__", "beside the source"])
def test_bytecode_does_not_depend_on_the_build_directory(
    tmp_path: Path, python312: str, beside: bool
) -> None:
    outputs = []
    for name in ("first", "second/deeper"):
        root = tmp_path / name
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "mod.py").write_text("def where():\n    return __file__\n")
        (root / "skipped.py").write_text("")
        packager.compile_tree(python312, root, "pkg", beside=beside)
        pyc = "mod.pyc" if beside else "__pycache__/mod.cpython-312.pyc"
        outputs.append((root / "pkg" / pyc).read_bytes())
        assert not (root / "__pycache__").exists()
        assert not (root / "skipped.pyc").exists()

    assert outputs[0] == outputs[1]
    assert b"/var/task/pkg/mod.py" in outputs[0]


# --- the packaged handler on CPython 3.12, against moto -------------------------------

DRIVER = r"""
import json, sys, types
task_root = sys.argv[1]
sys.path.insert(0, task_root)
import webapp.lambda_handler as entry
import flask

def add_probe_cookie(wsgi_app):
    # Test-only: one more Set-Cookie on every response, so the payload's handling of
    # several cookies is seen on real pages (payload 1.0 would keep only the last).
    def app(environ, start_response):
        def start(status, headers, exc_info=None):
            headers = [*headers, ("Set-Cookie", "probe=1; Secure; HttpOnly; Path=/")]
            return start_response(status, headers, exc_info)
        return wsgi_app(environ, start)
    return app

entry.app.wsgi_app = add_probe_cookie(entry.app.wsgi_app)
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "webapp": entry.__file__,
    "flask": flask.__file__,
}), flush=True)
context = types.SimpleNamespace(
    function_name="kakeibo-export-ci-web", aws_request_id="test", memory_limit_in_mb=1769
)
for line in sys.stdin:
    try:
        print(json.dumps({"response": entry.handler(json.loads(line), context)}), flush=True)
    except Exception:
        import traceback
        print(json.dumps({"error": traceback.format_exc()}), flush=True)
"""


class PackagedLambda:
    """The zip's handler in a CPython 3.12 process, fed one event at a time."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log = log
        self.ready = _read_line(process, log)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the handler with ``event`` and return its response."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        reply = _read_line(self.process, self.log)
        assert "error" not in reply, reply.get("error")
        response: dict[str, Any] = reply["response"]
        return response


def _read_line(process: subprocess.Popen[str], log: Path, timeout: float = 60) -> dict[str, Any]:
    assert process.stdout
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if readable else ""
    if not line:
        process.kill()
        process.communicate()
        pytest.fail(f"the packaged handler did not answer:\n{log.read_text()}")
    result: dict[str, Any] = json.loads(line)
    return result


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str) -> Settings:
    """Provision moto afresh and store the session key as a SecureString."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    settings = provision(moto_endpoint)
    clients = Clients(settings)
    clients.ssm.put_parameter(
        Name=SECRET_PARAMETER, Value="k" * 64, Type="SecureString", Overwrite=True
    )
    create_user(
        clients.cognito,
        settings.cognito_user_pool_id,
        "new@example.com",
        temporary_password=TEMPORARY_PASSWORD,
    )
    return settings


def _lambda_env(task: Path, deployed: Settings) -> dict[str, str]:
    """Return the environment the functions get on Lambda, with moto as the only AWS."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        # What Lambda sets itself:
        "AWS_REGION": deployed.region,
        "AWS_DEFAULT_REGION": deployed.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # What serverless.yml sets (tests below check the template carries each):
        "EXPORT_BUCKET": deployed.export_bucket,
        "SLIPS_TABLE": deployed.slips_table,
        "BALANCES_TABLE": deployed.balances_table,
        "COGNITO_USER_POOL_ID": deployed.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": deployed.cognito_client_id,
        "APP_TABLE": deployed.app_table,
        "JOBS_QUEUE_URL": deployed.jobs_queue_url,
        "SECRET_KEY_PARAMETER": SECRET_PARAMETER,
        "ARCHIVE_KEY_PARAMETER": ARCHIVE_PARAMETER,
        "EXPORT_RETENTION_DAYS": "7",
        "DOWNLOAD_URL_EXPIRY": "60",
        "DISPLAY_TIMEZONE": "Asia/Tokyo",
        "EXPORT_MAX_DAYS": "1827",
        # Only moto may answer; anything else must fail at once, never reach AWS.
        "AWS_ENDPOINT_URL": str(deployed.endpoint_url),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="module")
def packaged(
    unpacked: Path, python312: str, deployed: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PackagedLambda]:
    """Start the zip's handler under CPython 3.12 with a Lambda-like environment."""
    env = _lambda_env(unpacked, deployed)
    # -I -S: nothing but the zip and the standard library; -B: /var/task is read-only.
    log = tmp_path_factory.mktemp("lambda-log") / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [python312, "-I", "-S", "-B", "-c", DRIVER, str(unpacked)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=unpacked,
        )
    try:
        yield PackagedLambda(process, log)
    finally:
        process.kill()
        process.communicate()


def _cookie_pairs(response: dict[str, Any]) -> dict[str, str]:
    return dict(c.split(";", 1)[0].split("=", 1) for c in response.get("cookies", []))


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*\bvalue="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _form(**fields: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


FORM = {"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin"}


def test_packaged_handler_runs_from_the_zip_on_python312(
    packaged: PackagedLambda, unpacked: Path
) -> None:
    assert packaged.ready["version"] == [3, 12]
    assert packaged.ready["webapp"].startswith(str(unpacked))
    assert packaged.ready["flask"].startswith(str(unpacked))

    health = packaged(make_v2_event(path="/healthz"))

    assert health["statusCode"] == 200
    assert json.loads(health["body"]) == {"status": "ok"}
    assert health["headers"]["strict-transport-security"].startswith("max-age=")


def test_packaged_handler_sends_static_files_as_binary(packaged: PackagedLambda) -> None:
    response = packaged(make_v2_event(path="/static/favicon.svg"))

    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("image/svg+xml")
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == (ROOT / "static" / "favicon.svg").read_bytes()


def test_packaged_handler_serves_login_with_several_cookies(packaged: PackagedLambda) -> None:
    private = packaged(make_v2_event(path="/"))
    page = packaged(make_v2_event(path="/login"))

    assert private["statusCode"] == 302
    assert private["headers"]["location"].startswith("/login")
    assert page["statusCode"] == 200
    assert page["headers"]["content-type"].startswith("text/html")
    assert "default-src 'self'" in page["headers"]["content-security-policy"]
    assert 'name="password"' in page["body"]
    # Each Set-Cookie in its own entry of the v2 `cookies` list.
    assert sorted(_cookie_pairs(page)) == ["probe", "session"]
    (session,) = [c for c in page["cookies"] if c.startswith("session=")]
    assert {"Secure", "HttpOnly", "SameSite=Lax"} <= {p.strip() for p in session.split(";")}


def test_packaged_handler_signs_in_through_a_base64_form_post(
    packaged: PackagedLambda,
) -> None:
    page = packaged(make_v2_event(path="/login"))
    # The browser sends its cookies back; HTTP APIs list each one separately.
    cookies = [f"{k}={v}" for k, v in _cookie_pairs(page).items()] + ["theme=dark"]
    token = _csrf_token(page["body"])

    def post(password: str, csrf: str = token) -> dict[str, Any]:
        body = _form(csrf_token=csrf, email="new@example.com", password=password)
        return packaged(
            make_v2_event(method="POST", path="/login", headers=FORM, cookies=cookies, body=body)
        )

    wrong = post("Wrong-password-1234")
    no_csrf = post(TEMPORARY_PASSWORD, csrf="")
    challenge = post(TEMPORARY_PASSWORD)

    assert wrong["statusCode"] == 401
    # The default language is Japanese: the compiled catalog travelled in the zip.
    assert '<html lang="ja">' in wrong["body"]
    assert "メールアドレスまたはパスワードが正しくありません。" in wrong["body"]
    assert no_csrf["statusCode"] == 400
    # Cognito (moto) asked for a new password: the redirect carries the encrypted
    # challenge in the session cookie, signed with the key read from SSM.
    assert challenge["statusCode"] == 303
    assert challenge["headers"]["location"].endswith("/login/new-password")
    assert sorted(_cookie_pairs(challenge)) == ["probe", "session"]
    follow = packaged(
        make_v2_event(
            path="/login/new-password",
            cookies=[f"session={_cookie_pairs(challenge)['session']}"],
        )
    )
    assert follow["statusCode"] == 200
    # Only a session whose signed challenge decrypts gets the form (a bad one goes to /login).
    assert 'name="confirm"' in follow["body"]


# --- every AWS client, and Babel's data, from the zip ----------------------------------

CLIENTS_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import botocore
from webapp.aws import Clients
from webapp.settings import Settings

clients = Clients(Settings.from_env())
results = {"botocore": botocore.__file__}
for name, (operation, params) in json.loads(sys.argv[2]).items():
    try:
        getattr(getattr(clients, name), operation)(**params)
        results[name] = "ok"
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results))
"""


def _probes(settings: Settings) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return one call per client (by its ``Clients`` attribute), on the deployment's resources."""
    return {
        "s3": ("list_objects_v2", {"Bucket": settings.export_bucket, "MaxKeys": 1}),
        "dynamodb": ("describe_table", {"TableName": settings.app_table}),
        "cognito": ("describe_user_pool", {"UserPoolId": settings.cognito_user_pool_id}),
        "sqs": (
            "get_queue_attributes",
            {"QueueUrl": settings.jobs_queue_url, "AttributeNames": ["QueueArn"]},
        ),
        "ses": ("get_send_quota", {}),
        "ssm": ("get_parameter", {"Name": SECRET_PARAMETER}),
    }


def test_clients_builds_exactly_the_listed_services() -> None:
    # The zip's botocore models follow SERVICES: a client outside it would have none.
    built = {name for name, value in vars(Clients).items() if isinstance(value, cached_property)}
    assert built == set(SERVICES)


def test_every_client_calls_its_service_from_the_zip_on_python312(
    unpacked: Path, python312: str, deployed: Settings
) -> None:
    probes = _probes(deployed)
    assert set(probes) == set(SERVICES), "give each client in webapp.aws.SERVICES a probe here"

    # -I -S: nothing but the zip and the standard library, as on Lambda.
    done = subprocess.run(
        [python312, "-I", "-S", "-B", "-c", CLIENTS_DRIVER, str(unpacked), json.dumps(probes)],
        capture_output=True,
        text=True,
        env=_lambda_env(unpacked, deployed),
        cwd=unpacked,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)

    assert results.pop("botocore").startswith(str(unpacked))
    assert results == dict.fromkeys(SERVICES, "ok")


BABEL_DRIVER = r"""
import json, sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo
sys.path.insert(0, sys.argv[1])
import babel
from babel.lists import format_list
from webapp.web import formatting as f

now = datetime(2026, 12, 2, 5, 5, tzinfo=timezone.utc)
shown = {"babel": babel.__file__}
for locale in ("ja", "en"):
    for name in ("Asia/Tokyo", "America/New_York"):
        zone = ZoneInfo(name)
        shown[f"{locale} {name}"] = [
            f.format_datetime(now, zone, locale), f.zone_name(zone, locale)
        ]
    shown[locale] = [
        f.format_number(1234567, locale),
        f.format_size(812, locale),
        f.format_size(5_000_000, locale),
        f.format_day(date(2025, 1, 31), locale),
        f.format_time_left(now + timedelta(days=7), now, locale),
        f.format_time_left(now + timedelta(minutes=5), now, locale),
        format_list(["a", "b", "c"], locale=locale),
    ]
print(json.dumps(shown, ensure_ascii=False))
"""


def test_babel_renders_both_languages_from_the_zip(unpacked: Path, python312: str) -> None:
    # LANG as Lambda sets it: were Babel to fall back on it, it would look for en_US.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "en_US.UTF-8", "TZ": ":UTC"}
    from_zip = subprocess.run(
        [python312, "-I", "-S", "-B", "-c", BABEL_DRIVER, str(unpacked)],
        capture_output=True,
        text=True,
        env=env,
        cwd=unpacked,
        timeout=120,
    )
    # The same Babel with all of its 1,100 locales, as installed for the tests.
    with_all = subprocess.run(
        [sys.executable, "-c", BABEL_DRIVER, str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert from_zip.returncode == 0, from_zip.stderr
    assert with_all.returncode == 0, with_all.stderr
    shown, expected = json.loads(from_zip.stdout), json.loads(with_all.stdout)

    assert shown.pop("babel").startswith(str(unpacked))
    assert not expected.pop("babel").startswith(str(unpacked))
    assert shown == expected
    assert shown["ja Asia/Tokyo"] == ["2026年12月2日 14:05", "日本時間"]
    assert shown["en Asia/Tokyo"] == ["Dec 2, 2026, 2:05\u202fPM", "Japan Time"]


# --- osls package and the CloudFormation template ------------------------------


def _osls_package(out: Path, *params: str, stage: str = STAGE) -> dict[str, Any]:
    return osls_package(out, *params, stage=stage)


@pytest.fixture(scope="module")
def template_path(lambda_zip: Path) -> Path:
    """Run `osls package` offline and return the generated template's path."""
    out = BUILD / "sls-test"
    _osls_package(out)
    return out / "cloudformation-template-update-stack.json"


@pytest.fixture(scope="module")
def template(template_path: Path) -> dict[str, Any]:
    """Return the generated CloudFormation template."""
    result: dict[str, Any] = json.loads(template_path.read_text())
    return result


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _function(template: dict[str, Any], name: str = "Web") -> dict[str, Any]:
    return template["Resources"][f"{name}LambdaFunction"]


def test_cfn_lint_finds_nothing(template_path: Path) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(template_path)], capture_output=True, text=True, timeout=300
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_function_is_the_packaged_flask_app_on_python312(template: dict[str, Any]) -> None:
    props = _function(template)["Properties"]

    assert props["Handler"] == "webapp.lambda_handler.handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Code"]["S3Key"].endswith("/lambda.zip")
    # API Gateway stops waiting at 30 s; the export needs a whole vCPU.
    assert props["Timeout"] < 30
    assert props["MemorySize"] >= 1769
    for log_group in _resources(template, "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 30


def test_worker_runs_jobs_from_the_queue_for_up_to_15_minutes(template: dict[str, Any]) -> None:
    worker = _function(template, "Worker")["Properties"]
    mapping = template["Resources"]["WorkerEventSourceMappingSQSJobsQueue"]
    queue = template["Resources"]["JobsQueue"]["Properties"]
    dead_letter = template["Resources"]["JobsDeadLetterQueue"]["Properties"]

    assert worker["Handler"] == "webapp.worker_handler.handler"
    assert worker["Code"] == _function(template)["Properties"]["Code"]  # the same zip
    assert 29 < worker["Timeout"] <= 900
    # /tmp holds the Excel workbook's sheet XML (~610 MB at Excel's row limit).
    assert worker["EphemeralStorage"] == {"Size": 2048}
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert mapping["Properties"]["FunctionName"] == {"Fn::GetAtt": ["WorkerLambdaFunction", "Arn"]}
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # AWS: the queue's visibility timeout at least six times the function's timeout.
    assert int(queue["VisibilityTimeout"]) >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    assert dead_letter["MessageRetentionPeriod"] == 1209600  # 14 days to look at failures
    # The web function's settings, plus the backup mail's sender and the link it carries.
    web = _function(template)["Properties"]["Environment"]["Variables"]
    extra = {k: v for k, v in worker["Environment"]["Variables"].items() if k not in web}
    assert {k: v for k, v in worker["Environment"]["Variables"].items() if k in web} == web
    assert sorted(extra) == ["NOTIFY_FROM", "SITE_URL"]
    assert str(worker["Timeout"]) == worker["Environment"]["Variables"]["WORKER_TIMEOUT"]


def test_http_api_sends_every_path_to_the_function_as_payload_2(
    template: dict[str, Any],
) -> None:
    (route,) = _resources(template, "AWS::ApiGatewayV2::Route").values()
    (integration,) = _resources(template, "AWS::ApiGatewayV2::Integration").values()
    (stage,) = _resources(template, "AWS::ApiGatewayV2::Stage").values()

    assert route["Properties"]["RouteKey"] == "$default"
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert stage["Properties"]["StageName"] == "$default"
    throttle = stage["Properties"]["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] > 0
    assert throttle["ThrottlingBurstLimit"] > 0


def test_function_environment_carries_every_setting_the_app_requires(
    template: dict[str, Any],
) -> None:
    env = _function(template)["Properties"]["Environment"]["Variables"]
    expected_refs = {
        "EXPORT_BUCKET": "ExportBucket",
        "SLIPS_TABLE": "SlipsTable",
        "BALANCES_TABLE": "BalancesTable",
        "COGNITO_USER_POOL_ID": "UserPool",
        "COGNITO_CLIENT_ID": "UserPoolClient",
        "APP_TABLE": "AppTable",
        "JOBS_QUEUE_URL": "JobsQueue",
    }

    assert set(REQUIRED) == set(expected_refs)
    assert {k: env[k] for k in expected_refs} == {k: {"Ref": v} for k, v in expected_refs.items()}
    assert env["SECRET_KEY_PARAMETER"] == SECRET_PARAMETER
    assert env["ARCHIVE_KEY_PARAMETER"] == ARCHIVE_PARAMETER
    assert env["MAX_UPLOAD_MB"] == "100"
    # The keys themselves never sit in the template or the environment; Lambda sets the region.
    assert "SECRET_KEY" not in env and "ARCHIVE_KEY" not in env
    assert "AWS_REGION" not in env
    assert env["DISPLAY_TIMEZONE"] == "Asia/Tokyo"
    # With the references resolved as CloudFormation would, the app's own parser accepts it.
    resolved = {k: f"resolved-{v['Ref']}" if isinstance(v, dict) else v for k, v in env.items()}
    settings = Settings.from_env({**resolved, "AWS_REGION": "ap-northeast-1"})
    assert settings.secret_key_parameter == SECRET_PARAMETER
    assert settings.archive_key_parameter == ARCHIVE_PARAMETER
    assert settings.max_upload_bytes == 100 * 1024 * 1024
    assert (settings.retention_days, settings.download_url_expiry) == (7, 60)
    assert settings.max_span_days == 1827


def test_bucket_is_private_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ExportBucket"]["Properties"]
    (policy,) = [
        p
        for p in _resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "ExportBucket"}
    ]

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (sse,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (no_plain_http,) = [
        s for s in statements if "aws:SecureTransport" in s["Condition"].get("Bool", {})
    ]
    assert no_plain_http["Effect"] == "Deny"
    assert no_plain_http["Principal"] == "*"
    assert no_plain_http["Condition"]["Bool"]["aws:SecureTransport"] is False
    assert no_plain_http["Resource"] == [
        {"Fn::GetAtt": ["ExportBucket", "Arn"]},
        {"Fn::Sub": "${ExportBucket.Arn}/*"},
    ]


def test_bucket_lifecycle_expires_exports_and_stale_uploads(template: dict[str, Any]) -> None:
    rules = template["Resources"]["ExportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    exports, backups, uploads = rules[:3]  # the change log's: test_the_change_log_*

    assert exports["Id"] == "expire-exports" and exports["Status"] == "Enabled"
    assert exports["Prefix"] == "exports/"
    assert exports["ExpirationInDays"] == 7
    assert exports["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # Automatic backups: their own prefix, kept 400 days (the worker keeps the newest 12).
    assert backups == {
        "Id": "expire-backups",
        "Status": "Enabled",
        "Prefix": "backups/",
        "ExpirationInDays": 400,
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    # An upload to restore from that was never confirmed goes after a day.
    assert uploads == {
        "Id": "expire-uploads",
        "Status": "Enabled",
        "Prefix": "uploads/",
        "ExpirationInDays": 1,
    }


def test_retention_days_is_one_setting_for_the_rule_and_the_app() -> None:
    out = BUILD / "sls-test-retention"
    template = _osls_package(out, "--param=retentionDays=3")

    rule, *_others = template["Resources"]["ExportBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    env = _function(template)["Properties"]["Environment"]["Variables"]
    # A --param arrives as text; CloudFormation reads "3" as the number.
    assert str(rule["ExpirationInDays"]) == env["EXPORT_RETENTION_DAYS"] == "3"


def test_tables_have_the_data_model_keys_on_demand_and_pitr(template: dict[str, Any]) -> None:
    tables = _resources(template, "AWS::DynamoDB::Table")

    assert sorted(tables) == ["AppTable", "BalancesTable", "SlipsTable"]
    # The automatic backups' sparse index: who is due, without a Scan.
    assert tables["AppTable"]["Properties"]["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "backups-due",
            "KeySchema": [
                {"AttributeName": "due_shard", "KeyType": "HASH"},
                {"AttributeName": "next_run", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    app_ttl = tables["AppTable"]["Properties"]["TimeToLiveSpecification"]
    assert app_ttl == {"AttributeName": "expires_at", "Enabled": True}
    for table in tables.values():
        props = table["Properties"]
        assert props["KeySchema"] == KEY_SCHEMA
        extra = (
            []
            if table is not tables["AppTable"]
            else [
                {"AttributeName": "due_shard", "AttributeType": "S"},
                {"AttributeName": "next_run", "AttributeType": "S"},
            ]
        )
        assert props["AttributeDefinitions"] == ATTRIBUTE_DEFINITIONS + extra
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_data_resources_survive_stack_removal_and_replacement(template: dict[str, Any]) -> None:
    for name in DATA_RESOURCES:
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == "Retain", name
        assert resource["UpdateReplacePolicy"] == "Retain", name


def test_user_pool_signs_in_by_email_with_a_strong_policy(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    (client,) = _resources(template, "AWS::Cognito::UserPoolClient").values()
    client_props = client["Properties"]

    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert policy["RequireUppercase"] and policy["RequireLowercase"] and policy["RequireNumbers"]
    assert client_props["GenerateSecret"] is False
    assert sorted(client_props["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
    ]
    assert client_props["PreventUserExistenceErrors"] == "ENABLED"


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Return a role's statements; a conditional one (Fn::If) only as its condition's true."""
    found = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                continue  # see test_the_worker_may_mail_only_from_the_configured_sender
            found.append(statement)
    return found


@pytest.mark.parametrize("role", ["WorkerRole", "DispatcherRole"])
def test_the_worker_and_dispatcher_may_mail_only_from_the_configured_sender(
    template: dict[str, Any], role: str
) -> None:
    conditional = [
        statement["Fn::If"]
        for policy in template["Resources"][role]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if "Fn::If" in statement
    ]
    assert conditional == [
        [
            "NotifyEnabled",
            {
                "Effect": "Allow",
                "Action": "ses:SendEmail",
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
                    "identity/${NotifyFrom}"
                },
            },
            {"Ref": "AWS::NoValue"},
        ]
    ]
    # Off unless a sender is named (the stack parameter, from the notifyFrom param).
    assert template["Conditions"]["NotifyEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyFrom"}, ""]}]
    }
    assert template["Parameters"]["NotifyFrom"]["Default"] == ""
    web = template["Resources"]["WebRole"]["Properties"]["Policies"]
    assert "ses:" not in json.dumps(web)
    # The worker mails how a backup went, the dispatcher that none succeeded for too long.
    function = role.removesuffix("Role")
    env = _function(template, function)["Properties"]["Environment"]["Variables"]
    assert env["NOTIFY_FROM"] == {"Ref": "NotifyFrom"}
    assert "HttpApi" in json.dumps(env["SITE_URL"])
    assert "X-Amz" not in json.dumps(env)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(template: dict[str, Any], role: str) -> list[tuple[list[str], Any, Any]]:
    return [
        (sorted(_listify(s["Action"])), s["Resource"], s.get("Condition"))
        for s in _statements(template, role)
        if not s["Action"][0].startswith("logs:")
    ]


def test_each_function_has_its_own_role(template: dict[str, Any]) -> None:
    roles = _resources(template, "AWS::IAM::Role")
    assert sorted(roles) == [
        "DispatcherRole",
        "RecorderRole",
        "SchedulerRole",
        "WebRole",
        "WorkerRole",
    ]
    for name in ("Web", "Worker", "Dispatcher", "Recorder"):
        role = _function(template, name)["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        trust = roles[f"{name}Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]


def test_web_role_grants_exactly_what_the_web_function_uses(template: dict[str, Any]) -> None:
    assert _grants(template, "WebRole") == [
        (
            ["s3:GetObject"],
            [
                {"Fn::Sub": "${ExportBucket.Arn}/exports/*"},
                {"Fn::Sub": "${ExportBucket.Arn}/backups/*"},
            ],
            None,
        ),
        (["s3:DeleteObject"], {"Fn::Sub": "${ExportBucket.Arn}/exports/*"}, None),
        (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            {"Fn::Sub": "${ExportBucket.Arn}/uploads/*"},
            None,
        ),
        (
            ["s3:ListBucket"],
            {"Fn::GetAtt": ["ExportBucket", "Arn"]},
            {"StringLike": {"s3:prefix": ["exports/*", "backups/*", "changes/*"]}},
        ),
        (["s3:GetObject"], {"Fn::Sub": "${ExportBucket.Arn}/changes/*"}, None),
        (
            [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
            {"Fn::GetAtt": ["AppTable", "Arn"]},
            None,
        ),
        (["sqs:SendMessage"], {"Fn::GetAtt": ["JobsQueue", "Arn"]}, None),
        (
            ["ssm:GetParameter"],
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                f"parameter{SECRET_PARAMETER}"
            },
            None,
        ),
        (
            [
                "cognito-idp:AdminGetUser",
                "cognito-idp:AdminUserGlobalSignOut",
                "cognito-idp:DescribeUserPool",
            ],
            {"Fn::GetAtt": ["UserPool", "Arn"]},
            None,
        ),
    ]
    # Only the pool's password policy, "sign out everywhere" and the reset's finding of
    # whose sessions to end use IAM: InitiateAuth and the other calls of a secretless
    # client, or with the user's access token, are not IAM-authorised.
    actions = [a for s in _statements(template, "WebRole") for a in _listify(s["Action"])]
    assert sorted(a for a in actions if "cognito" in a) == [
        "cognito-idp:AdminGetUser",
        "cognito-idp:AdminUserGlobalSignOut",
        "cognito-idp:DescribeUserPool",
    ]
    # Reading and writing the data tables and archives is the worker's, not the web's:
    # the web only signs the browser's upload into uploads/.
    assert not {"dynamodb:Query", "dynamodb:BatchWriteItem", "s3:PutObject"} & {
        a
        for s in _statements(template, "WebRole")
        for a in _listify(s["Action"])
        if s["Resource"]
        not in ({"Fn::GetAtt": ["AppTable", "Arn"]}, {"Fn::Sub": "${ExportBucket.Arn}/uploads/*"})
    }


def test_worker_role_grants_exactly_what_the_worker_uses(template: dict[str, Any]) -> None:
    assert _grants(template, "WorkerRole") == [
        (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            {"Fn::GetAtt": ["JobsQueue", "Arn"]},
            None,
        ),
        (
            ["dynamodb:BatchWriteItem", "dynamodb:DescribeTable", "dynamodb:Query"],
            [{"Fn::GetAtt": ["SlipsTable", "Arn"]}, {"Fn::GetAtt": ["BalancesTable", "Arn"]}],
            None,
        ),
        (
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            {"Fn::Sub": "${ExportBucket.Arn}/exports/*"},
            None,
        ),
        (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            {"Fn::Sub": "${ExportBucket.Arn}/uploads/*"},
            None,
        ),
        (["s3:GetObject"], {"Fn::Sub": "${ExportBucket.Arn}/changes/*"}, None),
        (
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            {"Fn::Sub": "${ExportBucket.Arn}/backups/*"},
            None,
        ),
        (
            ["s3:ListBucket"],
            {"Fn::GetAtt": ["ExportBucket", "Arn"]},
            {"StringLike": {"s3:prefix": ["backups/*", "changes/*"]}},
        ),
        (
            ["ssm:GetParameter"],
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                f"parameter{ARCHIVE_PARAMETER}"
            },
            None,
        ),
        (
            ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["AppTable", "Arn"]},
            None,
        ),
    ]
    # The worker cannot send jobs, read the session secret or list anyone's exports;
    # the web function cannot read the archive key (only the worker signs and verifies).
    actions = {a for s in _statements(template, "WorkerRole") for a in _listify(s["Action"])}
    assert "sqs:SendMessage" not in actions
    resources = [json.dumps(s["Resource"]) for s in _statements(template, "WorkerRole")]
    assert not [r for r in resources if SECRET_PARAMETER in r]
    web = [json.dumps(s["Resource"]) for s in _statements(template, "WebRole")]
    assert not [r for r in web if ARCHIVE_PARAMETER in r]


def test_the_dispatcher_runs_daily_in_the_display_time_zone_with_least_rights(
    template: dict[str, Any],
) -> None:
    (schedule,) = _resources(template, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["DispatcherLambdaFunction", "Arn"]}
    assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    # The scheduler may invoke the dispatcher and nothing else.
    assert _grants(template, "SchedulerRole") == [
        (["lambda:InvokeFunction"], {"Fn::GetAtt": ["DispatcherLambdaFunction", "Arn"]}, None)
    ]
    trust = template["Resources"]["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    # The dispatcher reads who is due from the index, writes job records, sends messages:
    # no data table, no bucket, no key.
    assert _grants(template, "DispatcherRole") == [
        (["dynamodb:Query"], {"Fn::Sub": "${AppTable.Arn}/index/backups-due"}, None),
        (
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["AppTable", "Arn"]},
            None,
        ),
        (["sqs:SendMessage"], {"Fn::GetAtt": ["JobsQueue", "Arn"]}, None),
    ]
    function = _function(template, "Dispatcher")["Properties"]
    assert function["Handler"] == "webapp.dispatcher_handler.handler"


@pytest.mark.parametrize(
    "role", ["WebRole", "WorkerRole", "DispatcherRole", "RecorderRole", "SchedulerRole"]
)
def test_iam_has_no_wildcard_action_or_resource(template: dict[str, Any], role: str) -> None:
    statements = _statements(template, role)
    actions = [a for s in statements for a in _listify(s["Action"])]
    resources = [r for s in statements for r in _listify(s["Resource"])]

    assert actions and resources
    assert {s["Effect"] for s in statements} == {"Allow"}
    assert not [a for a in actions if "*" in a]
    assert "*" not in resources
    # Each role writes logs only to its own function's log group (the scheduler none).
    function = {
        "WebRole": "web",
        "WorkerRole": "worker",
        "DispatcherRole": "dispatcher",
        "RecorderRole": "recorder",
    }.get(role)
    logs = [
        r["Fn::Sub"]
        for s in statements
        if s["Action"][0].startswith("logs:")
        for r in _listify(s["Resource"])
    ]
    assert logs == (
        [
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            f"/aws/lambda/kakeibo-export-{STAGE}-{function}:*"
        ]
        if function
        else []
    )


def test_outputs_give_the_site_and_the_pool(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert outputs["SiteUrl"]["Value"] == {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]}
    assert outputs["UserPoolId"]["Value"] == {"Ref": "UserPool"}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": "UserPoolClient"}
    assert outputs["SecretKeyParameter"]["Value"] == SECRET_PARAMETER


# --- what the security review asked of the template (issue 17) -----------------------------


def test_user_pool_is_deletion_protected_with_threat_protection(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["DeletionProtection"] == "ACTIVE"
    # Threat protection is a Plus-plan feature; its mode is a per-stage parameter.
    assert pool["UserPoolTier"] == "PLUS"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": {"Ref": "AdvancedSecurityMode"}}
    parameter = template["Parameters"]["AdvancedSecurityMode"]
    assert parameter["Default"] == "AUDIT"
    assert parameter["AllowedValues"] == ["AUDIT", "ENFORCED"]


def test_the_prod_stage_enforces_threat_protection() -> None:
    template = _osls_package(BUILD / "sls-test-prod", stage="prod")
    assert template["Parameters"]["AdvancedSecurityMode"]["Default"] == "ENFORCED"


def test_tokens_live_an_hour_and_the_unused_refresh_token_the_least(
    template: dict[str, Any],
) -> None:
    (client,) = _resources(template, "AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    units = props["TokenValidityUnits"]
    minutes = {"minutes": 1, "hours": 60, "days": 24 * 60}
    assert props["IdTokenValidity"] * minutes[units["IdToken"]] <= 60
    assert props["AccessTokenValidity"] * minutes[units["AccessToken"]] <= 60
    # The app never refreshes (a session ends with its ID token): Cognito's minimum.
    assert props["RefreshTokenValidity"] * minutes[units["RefreshToken"]] == 60
    assert props["EnableTokenRevocation"] is True


def test_export_bucket_access_is_logged_to_a_private_log_bucket(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    logging = resources["ExportBucket"]["Properties"]["LoggingConfiguration"]
    assert logging == {
        "DestinationBucketName": {"Ref": "AccessLogBucket"},
        "LogFilePrefix": "export-bucket/",
    }
    logs = resources["AccessLogBucket"]["Properties"]
    assert all(logs["PublicAccessBlockConfiguration"].values())
    assert len(logs["PublicAccessBlockConfiguration"]) == 4
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (encryption,) = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # Server access log delivery accepts only S3-managed keys.
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (rule,) = logs["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "export-bucket/"
    assert int(rule["ExpirationInDays"]) == 365
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
        and r["Properties"]["Bucket"] == {"Ref": "AccessLogBucket"}
    ]
    allow, deny = policy["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == {"Fn::Sub": "${AccessLogBucket.Arn}/export-bucket/*"}
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["ExportBucket", "Arn"]}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_http_api_writes_access_logs_without_query_strings(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    settings = resources["HttpApiStage"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert {"requestId", "ip", "time", "method", "path", "status"} <= set(line)
    assert line["ip"] == "$context.identity.sourceIp"
    assert line["path"] == "$context.path"  # no query string: it may carry an upload key
    group = resources["HttpApiLogGroup"]["Properties"]
    assert group["RetentionInDays"] == 30


def test_functions_have_reserved_concurrency_and_users_a_daily_quota(
    template: dict[str, Any],
) -> None:
    reserved = {
        name: _function(template, name)["Properties"]["ReservedConcurrentExecutions"]
        for name in ("Web", "Worker", "Dispatcher", "Recorder")
    }
    assert reserved == {"Web": 20, "Worker": 4, "Dispatcher": 1, "Recorder": 10}
    # SQS never polls for more workers than may run (throttled deliveries count as receives).
    mapping = template["Resources"]["WorkerEventSourceMappingSQSJobsQueue"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": reserved["Worker"]}
    env = _function(template)["Properties"]["Environment"]["Variables"]
    assert env["MAX_ACTIVE_JOBS"] == "2"
    assert env["MAX_JOBS_PER_DAY"] == "30"


# --- operator alarms and the IaC scanner (issue 25) ------------------------------------------

#: Each alarm: its namespace, metric, statistic, period, evaluation periods, threshold and
#: comparison, and what a missing data point means.
ALARMS = {
    "DeadLetterAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 300, 1, 0,
        "GreaterThanThreshold", "notBreaching",
        {"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]},
    ),
    "WorkerErrorsAlarm": (
        "AWS/Lambda", "Errors", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching",
        {"Ref": "WorkerLambdaFunction"},
    ),
    "WorkerThrottlesAlarm": (
        "AWS/Lambda", "Throttles", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching",
        {"Ref": "WorkerLambdaFunction"},
    ),
    "DispatcherErrorsAlarm": (
        "AWS/Lambda", "Errors", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching",
        {"Ref": "DispatcherLambdaFunction"},
    ),
    "DispatcherThrottlesAlarm": (
        "AWS/Lambda", "Throttles", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching",
        {"Ref": "DispatcherLambdaFunction"},
    ),
    # The change log (issue 28): the recorder behind by 5 minutes, failing, or a gap.
    "RecorderIteratorAgeAlarm": (
        "AWS/Lambda", "IteratorAge", "Maximum", 60, 5, 300000, "GreaterThanThreshold",
        "notBreaching", {"Ref": "RecorderLambdaFunction"},
    ),
    "RecorderErrorsAlarm": (
        "AWS/Lambda", "Errors", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching",
        {"Ref": "RecorderLambdaFunction"},
    ),
    "RecorderGapsAlarm": (
        "AWS/SQS", "NumberOfMessagesSent", "Sum", 300, 1, 0, "GreaterThanThreshold",
        "notBreaching", {"Fn::GetAtt": ["ChangesDeadLetterQueue", "QueueName"]},
    ),
    # Not one invocation in 26 hourly periods; an hour without data counts as none.
    "DispatcherSilentAlarm": (
        "AWS/Lambda", "Invocations", "Sum", 3600, 26, 1, "LessThanThreshold", "breaching",
        {"Ref": "DispatcherLambdaFunction"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_each_alarm_watches_its_metric_and_notifies_the_topic(
    template: dict[str, Any], name: str
) -> None:
    namespace, metric, stat, period, periods, threshold, compare, missing, target = ALARMS[name]
    props = template["Resources"][name]["Properties"]

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        namespace,
        metric,
        stat,
    )
    assert (props["Period"], props["EvaluationPeriods"], props["Threshold"]) == (
        period,
        periods,
        threshold,
    )
    assert props["ComparisonOperator"] == compare and props["TreatMissingData"] == missing
    assert [d["Value"] for d in props["Dimensions"]] == [target]
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert props["OKActions"] == [{"Ref": "AlarmTopic"}]
    # CloudWatch allows at most 7 days of evaluation (1 day under hourly periods).
    assert period * periods <= (604_800 if period >= 3600 else 86_400)
    if name == "DispatcherSilentAlarm":
        assert period * periods == 26 * 3600 and props["DatapointsToAlarm"] == 26


def test_the_api_5xx_rate_alarm_divides_errors_by_requests(template: dict[str, Any]) -> None:
    props = template["Resources"]["Api5xxRateAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in props["Metrics"]}

    for key, name in (("errors", "5xx"), ("requests", "Count")):
        stat = metrics[key]["MetricStat"]
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
        assert (stat["Stat"], stat["Period"], metrics[key]["ReturnData"]) == ("Sum", 300, False)
    assert metrics["rate"]["Expression"] == "IF(requests >= 20, 100 * errors / requests, 0)"
    assert metrics["rate"]["ReturnData"] is True
    assert (props["Threshold"], props["ComparisonOperator"]) == (5, "GreaterThanThreshold")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_alarms_go_to_one_topic_with_an_optional_mail(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    assert sorted(alarms) == sorted([*ALARMS, "Api5xxRateAlarm"])
    assert {json.dumps(a["Properties"]["AlarmActions"]) for a in alarms.values()} == {
        json.dumps([{"Ref": "AlarmTopic"}])
    }
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    policy = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert policy[0]["Action"] == "sns:Publish"
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "AlarmEmailSet"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template["Conditions"]["AlarmEmailSet"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_a_stage_param_sets_the_alarm_mail() -> None:
    template = _osls_package(BUILD / "sls-test-alarm", "--param=alarmEmail=ops@example.com")
    assert template["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"


def _checkov() -> Path:
    found = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    _require(Path(found).exists(), "checkov is not installed: run `make test` (.venv-checkov)")
    return Path(found)


def test_checkov_finds_nothing_without_a_reason(template_path: Path) -> None:
    result = subprocess.run(
        [
            str(_checkov()),
            "--file", str(template_path),
            "--framework", "cloudformation",
            "--output", "json",
            # Offline: no guidelines, policies or version check from the vendor's servers.
            "--skip-download",
        ],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]

    failed = [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 60
    # Every skip says why, in words a reviewer can judge.
    for check in results["skipped_checks"]:
        comment = check["check_result"].get("suppress_comment") or ""
        assert len(comment.split()) >= 8, f"{check['check_id']} {check['resource']}: {comment!r}"


# --- the change log (issue 28) -----------------------------------------------------------------


def test_both_data_tables_stream_every_change_with_both_images(template: dict[str, Any]) -> None:
    tables = _resources(template, "AWS::DynamoDB::Table")
    for name in ("SlipsTable", "BalancesTable"):
        spec = tables[name]["Properties"]["StreamSpecification"]
        assert spec == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, name
    assert "StreamSpecification" not in tables["AppTable"]["Properties"]


def test_the_recorder_reads_each_stream_in_order_and_sends_lost_batches_to_a_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    function = _function(template, "Recorder")["Properties"]
    assert function["Handler"] == "webapp.recorder_handler.handler"
    mappings = {
        name: r["Properties"]
        for name, r in _resources(template, "AWS::Lambda::EventSourceMapping").items()
        if r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["RecorderLambdaFunction", "Arn"]}
    }
    streams = {
        props["EventSourceArn"]["Fn::GetAtt"][0]: props
        for props in mappings.values()
        if props["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
    }
    assert sorted(streams) == ["BalancesTable", "SlipsTable"]
    for props in streams.values():
        assert props["StartingPosition"] == "TRIM_HORIZON"
        assert props["ParallelizationFactor"] == 1  # in order per shard
        assert 0 < props["MaximumBatchingWindowInSeconds"] < 60  # the recovery point
        assert props["BisectBatchOnFunctionError"] is True
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["MaximumRetryAttempts"] >= 1
        # Given up on well before the stream trims a record (24 hours): a gap, not a loss.
        assert props["MaximumRecordAgeInSeconds"] < 24 * 3600
        assert props["DestinationConfig"] == {
            "OnFailure": {"Destination": {"Fn::GetAtt": ["ChangesDeadLetterQueue", "Arn"]}}
        }
    # The lost batches' bounds come back to the recorder, to be recorded as gaps.
    (dead_letter,) = [
        props
        for props in mappings.values()
        if props["EventSourceArn"] == {"Fn::GetAtt": ["ChangesDeadLetterQueue", "Arn"]}
    ]
    assert dead_letter["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["ChangesDeadLetterQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 1209600
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_the_change_log_is_kept_a_configurable_number_of_days(template: dict[str, Any]) -> None:
    rules = template["Resources"]["ExportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (changes,) = [rule for rule in rules if rule["Prefix"] == "changes/"]
    assert changes == {
        "Id": "expire-changes",
        "Status": "Enabled",
        "Prefix": "changes/",
        "ExpirationInDays": 30,
    }
    env = _function(template, "Web")["Properties"]["Environment"]["Variables"]
    assert env["CHANGES_RETENTION_DAYS"] == "30"
    shorter = _osls_package(BUILD / "sls-test-changes", "--param=changesRetentionDays=7")
    (rule,) = [
        rule
        for rule in shorter["Resources"]["ExportBucket"]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ]
        if rule["Prefix"] == "changes/"
    ]
    env = _function(shorter, "Recorder")["Properties"]["Environment"]["Variables"]
    assert str(rule["ExpirationInDays"]) == env["CHANGES_RETENTION_DAYS"] == "7"


def test_the_recorder_reads_the_streams_and_writes_only_under_changes(
    template: dict[str, Any],
) -> None:
    assert _grants(template, "RecorderRole") == [
        (
            [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            [
                {"Fn::Sub": "${SlipsTable.Arn}/stream/*"},
                {"Fn::Sub": "${BalancesTable.Arn}/stream/*"},
            ],
            None,
        ),
        (
            [
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
            {"Fn::GetAtt": ["ChangesDeadLetterQueue", "Arn"]},
            None,
        ),
        (["s3:PutObject"], {"Fn::Sub": "${ExportBucket.Arn}/changes/*"}, None),
        (["s3:GetObject"], {"Fn::Sub": "${ExportBucket.Arn}/changes/_log/*"}, None),
    ]
    # Nothing of the tables themselves, the app table, the archives or any key.
    text = json.dumps(_statements(template, "RecorderRole"))
    for never in ("dynamodb:Query", "dynamodb:PutItem", "AppTable", "exports/", "ssm:"):
        assert never not in text

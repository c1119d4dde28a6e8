"""Benchmark the Lambda cold starts: import plus the first event, from the built zip.

Builds ``build/lambda.zip`` as ``make package`` does, unpacks it, and times in fresh
CPython 3.12 processes (``-I -S -B``: only the zip and the standard library, nothing
written, as on Lambda's read-only /var/task) everything from the first import to the
answer of the first event:

- the baseline: a minimal Flask + boto3 app, as small as a Lambda web app gets. It
  imports both (and apig-wsgi, the adapter every Flask-on-Lambda app needs), builds
  one boto3 client at import, and its first request renders one Jinja template;
- the web function: ``webapp.lambda_handler`` and ``GET /login`` through its handler,
  in Japanese (``Accept-Language: ja``), as a first visitor from Japan would;
- the worker function: ``webapp.worker_handler`` and one SQS message for a job that is
  gone (a duplicate delivery: a conditional claim that fails, one read, nothing run);
- the dispatcher: ``webapp.dispatcher_handler`` and one schedule event on a day nobody
  is due.

Since the first event is timed too, work moved from import time into the first
request gains nothing. AWS is never reached: botocore's HTTP layer answers from
canned responses (parsing, signing and retries all run), so only our code and the
libraries are timed, not the network.

Runs alternate between the cases; each figure is the median of the runs. Wall time
and the process's CPU time both count: on this shared 2-core machine other work
inflates wall time from run to run, while CPU time stays what an idle machine sees.
The web function's target is ≤ 1.10 × the baseline, wall and CPU; the worker's and
the dispatcher's figures are printed against the same baseline.

    .venv/bin/python bench/bench_coldstart.py        # 15 runs each
    .venv/bin/python bench/bench_coldstart.py 31

Prints a table, the heaviest imports of the web function's cold start, then as the
last line one JSON object (keys: see ``main``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.10
DEFAULT_RUNS = 15
WIDTHS = (9, 8, 8, 10, 9, 10)

#: Run in each fresh process: argv is the unpacked zip, the case and the template folder.
CHILD = r'''
import sys, time
task, case, templates = sys.argv[1:4]
sys.path.insert(0, task)
wall, cpu = time.perf_counter(), time.process_time()
EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/login",
    "rawQueryString": "",
    "headers": {
        "accept-language": "ja,en-US;q=0.7,en;q=0.3",
        "host": "abc123.execute-api.ap-northeast-1.amazonaws.com",
        "user-agent": "bench",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    },
    "requestContext": {
        "domainName": "abc123.execute-api.ap-northeast-1.amazonaws.com",
        "http": {"method": "GET", "path": "/login", "protocol": "HTTP/1.1",
                 "sourceIp": "203.0.113.7", "userAgent": "bench"},
        "requestId": "bench", "routeKey": "$default", "stage": "$default",
    },
    "isBase64Encoded": False,
}
CANNED = {
    # The worker's claim of a job that is gone, then its read: nothing to run.
    "DynamoDB_20120810.UpdateItem": (400, b'{"__type": "com.amazonaws.dynamodb.v20120810#'
                                     b'ConditionalCheckFailedException", "message": "no"}'),
    "DynamoDB_20120810.GetItem": (200, b"{}"),
    # The dispatcher's query of who is due: nobody.
    "DynamoDB_20120810.Query": (200, b'{"Items": [], "Count": 0, "ScannedCount": 0}'),
}
CALLS = []


def answer_from_canned():
    """Let botocore's HTTP layer answer from CANNED: everything but the network runs."""
    import botocore.httpsession
    from botocore.awsrequest import AWSResponse

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **kwargs):
            yield self.body

    def send(self, request):
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        CALLS.append(target)
        status, body = CANNED[target]
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}
        return AWSResponse(request.url, status, headers, Raw(body))

    botocore.httpsession.URLLib3Session.send = send


if case == "baseline":
    import boto3
    import flask
    from apig_wsgi import make_lambda_handler

    app = flask.Flask("baseline", template_folder=templates)
    s3 = boto3.client("s3")

    @app.get("/login")
    def login():
        return flask.render_template("login.html", title="Sign in", lang="ja")

    handler = make_lambda_handler(app, binary_support=True)
    answer_from_canned()
    response = handler(EVENT, None)
    assert response["statusCode"] == 200, response
elif case == "web":
    import webapp.lambda_handler

    answer_from_canned()
    response = webapp.lambda_handler.handler(EVENT, None)
    assert response["statusCode"] == 200, response
    assert 'lang="ja"' in response["body"], "the page is not in Japanese"
elif case == "worker":
    import webapp.worker_handler

    answer_from_canned()
    from webapp.jobs.queue import JobMessage

    body = JobMessage(user_id="0123-sub", job_id="20260101T000000Z-gone").to_json()
    record = {"messageId": "m-1", "body": body}
    response = webapp.worker_handler.handler({"Records": [record]}, None)
    assert response == {"batchItemFailures": []}, response
    assert CALLS, "the worker made no AWS call"
elif case == "dispatcher":
    import webapp.dispatcher_handler

    answer_from_canned()
    response = webapp.dispatcher_handler.handler({"time": "2026-12-07T00:00:00Z"}, None)
    assert response == {"queued": 0, "skipped": 0}, response
else:
    raise SystemExit(f"unknown case {case}")
print(time.perf_counter() - wall, time.process_time() - cpu)
'''

#: The baseline's one template: a sign-in form with a few fields and a loop.
BASELINE_TEMPLATE = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
  <main>
    <h1>{{ title }}</h1>
    <form method="post" action="/login">
      {% for name, label, kind in [("email", "Email", "email"),
                                   ("password", "Password", "password")] %}
      <p><label for="{{ name }}">{{ label }}</label>
         <input id="{{ name }}" name="{{ name }}" type="{{ kind }}" required></p>
      {% endfor %}
      <button type="submit">{{ title|upper }}</button>
    </form>
  </main>
</body>
</html>
"""

#: What serverless.yml gives the functions, with the keys themselves in place of their
#: SSM parameters: nothing in a cold start may reach the network.
ENV = {
    "EXPORT_BUCKET": "kakeibo-export-bench",
    "SLIPS_TABLE": "kakeibo-export-bench-slips",
    "BALANCES_TABLE": "kakeibo-export-bench-balances",
    "COGNITO_USER_POOL_ID": "ap-northeast-1_0123456789abcdef0123456789abcdef",
    "COGNITO_CLIENT_ID": "0123456789abcdefghijklmnop",
    "SECRET_KEY": "k" * 64,
    "ARCHIVE_KEY": "a" * 64,
    "APP_TABLE": "kakeibo-export-bench-app",
    "JOBS_QUEUE_URL": "https://sqs.ap-northeast-1.amazonaws.com/123456789012/kakeibo-export-bench-jobs",
    "EXPORT_RETENTION_DAYS": "7",
    "DOWNLOAD_URL_EXPIRY": "60",
    "DISPLAY_TIMEZONE": "Asia/Tokyo",
    "EXPORT_MAX_DAYS": "1827",
    "AWS_REGION": "ap-northeast-1",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "LANG": "C.UTF-8",
    # What Lambda sets in every function's environment (a reserved variable).
    "TZ": ":UTC",
}
#: The cases, in the table's order, with what each row is called.
CASES = {
    "baseline": "Flask + boto3, 1 client, 1 template",
    "web": "web: import + GET /login (ja)",
    "worker": "worker: import + 1 no-op message",
    "dispatcher": "dispatcher: import + 1 no-op day",
}


def load_packager() -> ModuleType:
    """Import .ci/package_lambda.py, which builds the zip."""
    spec = importlib.util.spec_from_file_location(
        "package_lambda", ROOT / ".ci" / "package_lambda.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child_command(python: str, task: Path, case: str, *flags: str) -> list[str]:
    """Return the command that runs one case in a fresh process."""
    return [python, "-I", "-S", "-B", *flags, "-c", CHILD, str(task), case, str(task.parent)]


def time_case(python: str, task: Path, case: str) -> tuple[float, float]:
    """Return (wall, CPU) seconds one fresh process takes from first import to answer."""
    result = subprocess.run(
        child_command(python, task, case),
        capture_output=True,
        text=True,
        env={**ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=task,
    )
    if result.returncode:
        raise SystemExit(f"cold start of {case} failed:\n{result.stderr}")
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def heaviest_imports(python: str, task: Path, count: int = 10) -> list[tuple[str, float]]:
    """Return the packages and app modules the web function's cold start spends most on.

    Cumulative times from one ``-X importtime`` run; they overlap (flask includes
    werkzeug and jinja2, boto3 includes botocore). Imports made by the first request
    count as well as those of the handler's import.
    """
    result = subprocess.run(
        child_command(python, task, "web", "-X", "importtime"),
        capture_output=True,
        text=True,
        env={**ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=task,
    )
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if name in {"webapp", "webapp.lambda_handler"}:
            continue
        if "." not in name or name.startswith("webapp."):
            totals[name] = max(totals.get(name, 0.0), int(parts[1]) / 1e6)
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]


def verdict(ratio: float) -> str:
    """Return whether ``ratio`` meets the target, as the table says it."""
    return "met" if ratio <= TARGET_RATIO else "MISSED"


def main(argv: list[str]) -> int:
    """Build, unpack, time the cold starts and print the table and JSON line."""
    runs = int(argv[0]) if argv else DEFAULT_RUNS
    packager = load_packager()
    python = packager.find_python312()
    if python is None:
        print("skipped: no CPython 3.12 (python3.12, ~/.pyenv or LAMBDA_PYTHON)")
        print(json.dumps({"skipped": "no CPython 3.12"}))
        return 0
    zip_path: Path = packager.build(packager.DEFAULT_OUTPUT, require_bytecode=True)
    zip_bytes = zip_path.stat().st_size
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as scratch:
        task = Path(scratch) / "task"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        (Path(scratch) / "login.html").write_text(BASELINE_TEMPLATE)
        walls: dict[str, list[float]] = {case: [] for case in CASES}
        cpus: dict[str, list[float]] = {case: [] for case in CASES}
        for case in CASES:
            time_case(python, task, case)  # warm the page cache, not timed
        for _ in range(runs):
            for case in CASES:
                took, used = time_case(python, task, case)
                walls[case].append(took * 1000)
                cpus[case].append(used * 1000)
        heavy = heaviest_imports(python, task)

    wall = {case: statistics.median(values) for case, values in walls.items()}
    cpu = {case: statistics.median(values) for case, values in cpus.items()}
    wall_ratio = {case: wall[case] / wall["baseline"] for case in CASES}
    cpu_ratio = {case: cpu[case] / cpu["baseline"] for case in CASES}

    print(f"Cold start on CPython {version}, import + first event, {runs} fresh processes each")
    print("(median; min and max of wall time)\n")
    header = ("wall ms", "min", "max", "vs base", "CPU ms", "vs base")
    print(f"{'function':<38}" + "".join(f"{h:>{w}}" for h, w in zip(header, WIDTHS, strict=True)))
    for case, label in CASES.items():
        print(
            f"{label:<38}{wall[case]:>9.1f}{min(walls[case]):>8.1f}{max(walls[case]):>8.1f}"
            f"{wall_ratio[case]:>9.2f}x{cpu[case]:>9.1f}{cpu_ratio[case]:>9.2f}x"
        )
    print(
        f"\nweb / baseline: {wall_ratio['web']:.2f} wall "
        f"(target ≤ {TARGET_RATIO:.2f}: {verdict(wall_ratio['web'])}), "
        f"{cpu_ratio['web']:.2f} CPU (target ≤ {TARGET_RATIO:.2f}: {verdict(cpu_ratio['web'])})"
    )
    for case in ("worker", "dispatcher"):
        print(
            f"{case} / baseline: {wall_ratio[case]:.2f} wall, "
            f"{cpu_ratio[case]:.2f} CPU (for comparison)"
        )
    print(f"zip: {zip_path.relative_to(ROOT)} {zip_bytes / 1e6:.1f} MB ({zip_bytes} bytes)")
    print("\nheaviest imports of the web function's cold start (-X importtime, one run):")
    for package, seconds in heavy:
        print(f"  {package:<32}{seconds * 1000:>8.1f} ms")
    summary: dict[str, object] = {"python": version, "runs": runs, "target_ratio": TARGET_RATIO}
    for case in CASES:
        summary[f"{case}_ms"] = round(wall[case], 1)
        summary[f"{case}_cpu_ms"] = round(cpu[case], 1)
    for case in ("web", "worker", "dispatcher"):
        summary[f"{case}_ratio"] = round(wall_ratio[case], 3)
        summary[f"{case}_cpu_ratio"] = round(cpu_ratio[case], 3)
    summary["zip_bytes"] = zip_bytes
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

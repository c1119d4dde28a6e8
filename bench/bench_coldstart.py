"""Benchmark the Lambda cold start: importing the handler from the built zip.

Builds ``build/lambda.zip`` as ``make package`` does, unpacks it, and times in fresh
CPython 3.12 processes (``-I -S -B``: only the zip and the standard library, nothing
written, as on Lambda's read-only /var/task):

- ``import flask, boto3``: the floor any Flask-on-Lambda app pays;
- ``import webapp.lambda_handler``: our handler, which also builds the app;
- the same from a copy of the zip without its ``.pyc`` files (what stale bytecode costs).

Runs alternate between the three; each figure is the median of the runs. Both wall
time and the process's CPU time are shown: on this shared 2-core machine other work
inflates wall time run to run, while CPU time stays what an idle machine would see.

    .venv/bin/python bench/bench_coldstart.py        # 9 runs each
    .venv/bin/python bench/bench_coldstart.py 21

Prints a table, then as the last line one JSON object with ``handler_import_ms``,
``baseline_import_ms``, ``ratio`` (wall; target <= 1.3), ``cpu_ratio``,
``no_bytecode_import_ms`` and ``zip_bytes``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
DEFAULT_RUNS = 9
WIDTHS = (9, 8, 8, 10, 9, 10)
TIMER = """
import sys, time
sys.path.insert(0, sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
import {modules}
print(time.perf_counter() - wall, time.process_time() - cpu)
"""
#: What serverless.yml gives the function, with the key itself in place of its SSM
#: parameter: nothing in the import may reach the network.
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


def time_import(python: str, task: Path, modules: str) -> tuple[float, float]:
    """Return (wall, CPU) seconds one fresh process takes to import ``modules``."""
    result = subprocess.run(
        [python, "-I", "-S", "-B", "-c", TIMER.format(modules=modules), str(task)],
        capture_output=True,
        text=True,
        env={**ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=task,
    )
    if result.returncode:
        raise SystemExit(f"import {modules} failed:\n{result.stderr}")
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def heaviest_imports(python: str, task: Path, count: int = 10) -> list[tuple[str, float]]:
    """Return the packages and app modules the handler import spends most on.

    Cumulative times from one ``-X importtime`` run; they overlap (flask includes
    werkzeug and jinja2, boto3 includes botocore).
    """
    result = subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-B",
            "-X",
            "importtime",
            "-c",
            TIMER.format(modules="webapp.lambda_handler"),
            str(task),
        ],
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


def main(argv: list[str]) -> int:
    """Build, unpack, time the imports and print the table and JSON line."""
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
        bare = Path(scratch) / "no-bytecode"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        shutil.copytree(task, bare, ignore=shutil.ignore_patterns("__pycache__"))

        cases = {
            "import flask, boto3": (task, "flask, boto3"),
            "import webapp.lambda_handler": (task, "webapp.lambda_handler"),
            "  same, zip without .pyc": (bare, "webapp.lambda_handler"),
        }
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        for root, modules in cases.values():
            time_import(python, root, modules)  # warm the page cache, not timed
        for _ in range(runs):
            for name, (root, modules) in cases.items():
                wall, cpu = time_import(python, root, modules)
                walls[name].append(wall * 1000)
                cpus[name].append(cpu * 1000)
        heavy = heaviest_imports(python, task)

    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    floor, ours = "import flask, boto3", "import webapp.lambda_handler"
    ratio, cpu_ratio = wall[ours] / wall[floor], cpu[ours] / cpu[floor]

    print(f"Cold start on CPython {version}, {runs} fresh processes each (median)\n")
    header = ("wall ms", "min", "max", "vs floor", "CPU ms", "vs floor")
    print(f"{'import':<32}" + "".join(f"{h:>{w}}" for h, w in zip(header, WIDTHS, strict=True)))
    for name in cases:
        print(
            f"{name:<32}{wall[name]:>9.1f}{min(walls[name]):>8.1f}{max(walls[name]):>8.1f}"
            f"{wall[name] / wall[floor]:>9.2f}x{cpu[name]:>9.1f}{cpu[name] / cpu[floor]:>9.2f}x"
        )
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(
        f"\nratio handler / floor: {ratio:.2f} wall (target ≤ {TARGET_RATIO}: {verdict}), "
        f"{cpu_ratio:.2f} CPU"
    )
    print(f"zip: {zip_path.relative_to(ROOT)} {zip_bytes / 1e6:.1f} MB ({zip_bytes} bytes)")
    print("\nheaviest imports of the handler (-X importtime, one run, cumulative):")
    for package, seconds in heavy:
        print(f"  {package:<24}{seconds * 1000:>8.1f} ms")
    print(
        json.dumps(
            {
                "python": version,
                "runs": runs,
                "handler_import_ms": round(wall[ours], 1),
                "baseline_import_ms": round(wall[floor], 1),
                "ratio": round(ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
                "target_ratio": TARGET_RATIO,
                "no_bytecode_import_ms": round(wall["  same, zip without .pyc"], 1),
                "zip_bytes": zip_bytes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

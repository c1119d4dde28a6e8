"""`make run` installs only what local mode runs on; `make test` installs the rest (issue 16).

Two halves: the Makefile's plan (``make -n`` in a copy, so nothing is installed),
and the requirement files themselves: what ``make run`` installs is closed under
its dependencies and holds every third-party module ``webapp`` imports.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support import require_tool

ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = ("requirements.txt", "requirements-local.txt")
DEV_FILE = "requirements-dev.txt"
#: checkov, in a venv of its own (its pins clash with the app's): `make test` only.
CHECKOV_FILE = "requirements-checkov.txt"


def _make_copy(tmp_path: Path) -> Path:
    """Return a directory holding the Makefile, the requirement files and a catalog."""
    for name in (
        "Makefile",
        *RUN_FILES,
        DEV_FILE,
        CHECKOV_FILE,
        "package.json",
        "package-lock.json",
    ):
        shutil.copy(ROOT / name, tmp_path / name)
    catalog = tmp_path / "webapp" / "translations" / "ja" / "LC_MESSAGES"
    catalog.mkdir(parents=True)
    (catalog / "messages.po").write_text("", encoding="utf-8")
    return tmp_path


def _plan(copy: Path, target: str) -> str:
    make = require_tool("make")
    done = subprocess.run(
        [make, "-n", target, f"PYTHON={sys.executable}"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        check=True,
    )
    return done.stdout


def _installs(plan: str) -> list[str]:
    """Return the requirement files the plan's pip commands install, in order."""
    return [
        line.split(" -r ", 1)[1].split()[0]
        for line in plan.splitlines()
        if "pip install" in line and " -r " in line
    ]


def test_make_run_on_a_fresh_machine_installs_no_test_tools(tmp_path: Path) -> None:
    plan = _plan(_make_copy(tmp_path), "run")
    assert _installs(plan) == ["requirements-local.txt"], plan
    assert DEV_FILE not in plan and CHECKOV_FILE not in plan
    assert "-m webapp.local" in plan


def test_make_test_on_a_fresh_machine_installs_both_sets(tmp_path: Path) -> None:
    plan = _plan(_make_copy(tmp_path), "test")
    assert _installs(plan) == ["requirements-local.txt", DEV_FILE, CHECKOV_FILE], plan


def test_each_set_has_its_own_stamp(tmp_path: Path) -> None:
    copy = _make_copy(tmp_path)
    bin_dir = copy / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").touch()
    stamp = copy / ".venv" / ".installed-run"
    stamp.touch()
    later = stamp.stat().st_mtime + 10
    os.utime(stamp, (later, later))
    # Local mode's set is installed: running installs nothing, testing only the rest.
    assert _installs(_plan(copy, "run")) == []
    assert _installs(_plan(copy, "test")) == [DEV_FILE, CHECKOV_FILE]
    # A changed requirements.txt reinstalls the run set (and so the dev set after it).
    newer = later + 10
    os.utime(copy / "requirements.txt", (newer, newer))
    assert _installs(_plan(copy, "run")) == ["requirements-local.txt"]


def _pins(*names: str) -> dict[str, Requirement]:
    """Return the requirements the files pin, by canonical name (``-r`` lines skipped)."""
    pins: dict[str, Requirement] = {}
    for name in names:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                requirement = Requirement(line)
                key = canonicalize_name(requirement.name)
                if key in pins:
                    pins[key].extras |= requirement.extras
                else:
                    pins[key] = requirement
    return pins


def test_every_pin_is_exact_and_the_files_agree() -> None:
    run, dev = _pins(*RUN_FILES), _pins(DEV_FILE)
    for requirement in [*run.values(), *dev.values(), *_pins(CHECKOV_FILE).values()]:
        assert str(requirement.specifier).startswith("=="), requirement
    for key in run.keys() & dev.keys():
        assert run[key].specifier == dev[key].specifier, key


def test_the_run_set_holds_its_own_dependencies() -> None:
    """Whatever a package of `make run`'s set needs (with its extras) is in the set too."""
    run = _pins(*RUN_FILES)
    missing: list[str] = []
    for key, pinned in run.items():
        try:
            requires = metadata.distribution(key).requires or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{key} is pinned for make run but not installed here")
        for line in requires:
            needed = Requirement(line)
            scopes = [{"extra": extra} for extra in pinned.extras or {""}]
            if needed.marker is not None and not any(needed.marker.evaluate(s) for s in scopes):
                continue
            if canonicalize_name(needed.name) not in run:
                missing.append(f"{needed.name} (for {key})")
    assert not missing, "not pinned in " + " or ".join(RUN_FILES) + ": " + ", ".join(missing)


def _third_party_imports(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    stubs_only = {"_typeshed", "mypy_boto3_cognito_idp", "mypy_boto3_dynamodb", "mypy_boto3_s3"}
    stubs_only |= {"mypy_boto3_ses", "mypy_boto3_sqs", "mypy_boto3_ssm", "mypy_boto3_scheduler"}
    return names - set(sys.stdlib_module_names) - {"webapp"} - stubs_only


def test_the_run_set_holds_everything_webapp_imports() -> None:
    run = _pins(*RUN_FILES)
    providers = metadata.packages_distributions()
    imports = _third_party_imports(ROOT / "webapp")
    assert {"flask", "boto3", "moto"} <= imports  # the walk sees the imports
    unpinned = {
        module: providers.get(module, ["?"])
        for module in imports
        if not any(canonicalize_name(dist) in run for dist in providers.get(module, []))
    }
    assert not unpinned, f"imported by webapp but not installed by make run: {unpinned}"

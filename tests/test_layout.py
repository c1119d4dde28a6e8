"""The layout's rules: a Flask-free core, local mode kept out of production, tests apart.

Each rule here is one a reader of ``webapp/`` relies on; breaking one fails a test
rather than quietly eroding the architecture.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "webapp"
#: What the core must never load, directly or through anything it imports.
WEB_FRAMEWORKS = ("flask", "werkzeug", "click", "flask_wtf", "jinja2", "wtforms")
#: Longest module without a reason, given in its docstring, for its length.
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "__pycache__" not in p.parts)


CORE_MODULES = [_module_name(p) for p in _modules(PACKAGE / "archive")]


@pytest.mark.parametrize("module", ["webapp", "webapp.model", *CORE_MODULES])
def test_the_core_loads_no_web_framework(module: str) -> None:
    probe = (
        f"import sys, json; import {module}; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert not loaded & set(WEB_FRAMEWORKS), (
        f"{module} loads {sorted(loaded & set(WEB_FRAMEWORKS))}"
    )


def _imports(path: Path) -> set[str]:
    """Return every module ``path`` imports, relative imports resolved."""
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_resolving_relative_imports_finds_local_mode() -> None:
    # The rule below is only as good as this resolution: check it on a known importer.
    assert "webapp.local.stack" in _imports(PACKAGE / "local" / "__main__.py")
    assert "webapp.archive.dynamo" in _imports(PACKAGE / "local" / "demo.py")


@pytest.mark.parametrize(
    "path",
    [p for p in _modules(PACKAGE) if "local" not in p.relative_to(PACKAGE).parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_production_code_never_imports_local_mode(path: Path) -> None:
    local = {name for name in _imports(path) if name.startswith("webapp.local")}
    assert not local, f"{path.relative_to(ROOT)} imports {sorted(local)}"


def test_the_lambda_zip_leaves_local_mode_out(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("package_lambda", ROOT / ".ci/package_lambda.py")
    assert spec and spec.loader
    packager = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(packager)

    packager.stage_app(tmp_path, None)

    assert (tmp_path / "webapp" / "archive" / "export.py").is_file()
    assert (tmp_path / "webapp" / "archive" / "resources" / "readme.txt").is_file()
    assert not (tmp_path / "webapp" / "local").exists()
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.mark.parametrize("path", _modules(PACKAGE), ids=lambda p: str(p.relative_to(ROOT)))
def test_long_modules_say_why(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "Why this long:" in docstring, f"{lines} lines and no reason in the docstring"


@pytest.mark.parametrize("path", _modules(ROOT / "tests"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_module_imports_another(path: Path) -> None:
    imported = {name.split(".")[0] for name in _imports(path)}
    others = {name for name in imported if name.startswith("test_") or name == "conftest"}
    assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}"


def test_tests_mirror_the_packages() -> None:
    for package in ("archive", "jobs", "web", "local"):
        assert list((ROOT / "tests" / package).glob("test_*.py")), f"no tests/{package}/"

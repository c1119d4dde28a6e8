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


CORE_MODULES = [
    _module_name(p) for p in [*_modules(PACKAGE / "archive"), *_modules(PACKAGE / "changes")]
]


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


def _imported_from(path: Path, node: ast.ImportFrom) -> str:
    """Return the module a ``from … import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    anchor = package.split(".")
    anchor = anchor[: len(anchor) - node.level + 1]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _imports(path: Path) -> set[str]:
    """Return every module ``path`` imports, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(path, node)
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


# --- the house (issue 22): who may import what, and how big a piece may grow ---------------

#: What runs only in the worker: the export engine with its encoders, zip and upload, the
#: workbook writer, the restore core and the worker's handler with its registry of runners.
WORKER_ONLY = (
    "webapp.archive.export",
    "webapp.archive.encode",
    "webapp.archive.workbook",
    "webapp.archive.zipstream",
    "webapp.archive.upload",
    "webapp.archive.restore",
    "webapp.archive.reader",
    "webapp.archive.verify",
    "webapp.jobs.worker",
)
#: Longest function (or method) of webapp/.
MAX_FUNCTION_LINES = 60


def _runtime_imports(path: Path) -> set[str]:
    """Return the webapp modules ``path`` imports when it runs (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(path, node)
            for alias in node.names:
                # `from pkg import module` imports that module, `from module import name` this one.
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {name for name in found if name in MODULES}


MODULES = {_module_name(p): p for p in _modules(PACKAGE)}


@pytest.mark.parametrize(
    "path",
    [*_modules(PACKAGE / "web"), PACKAGE / "app.py", PACKAGE / "lambda_handler.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_web_imports_nothing_of_the_worker(path: Path) -> None:
    imported = _runtime_imports(path) & set(WORKER_ONLY)
    assert not imported, f"{path.relative_to(ROOT)} imports {sorted(imported)}"


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_web_app_serves_a_page_without_loading_the_worker_or_xlsxwriter() -> None:
    loaded = _loaded_after(
        "from webapp import create_app\n"
        "from webapp.settings import Settings\n"
        "settings = Settings(export_bucket='b', slips_table='s', balances_table='t',\n"
        "    cognito_user_pool_id='ap-northeast-1_x', cognito_client_id='c',\n"
        "    region='ap-northeast-1', app_table='a', jobs_queue_url='http://127.0.0.1:9/q',\n"
        "    endpoint_url='http://127.0.0.1:9', local=True, secret_key='k' * 32)\n"
        "response = create_app(settings).test_client().get('/login')\n"
        "assert response.status_code == 200, response.status_code\n"
    )
    assert "webapp.web.auth.views" in loaded  # the probe really built the app
    assert not loaded & {*WORKER_ONLY, "xlsxwriter"}, sorted(loaded & {*WORKER_ONLY, "xlsxwriter"})


@pytest.mark.parametrize(
    "module",
    [
        "webapp.settings",
        "webapp.services",
        "webapp.worker_handler",
        "webapp.dispatcher_handler",
        "webapp.recorder_handler",
    ],
)
def test_the_worker_and_the_dispatcher_load_no_web_framework(module: str) -> None:
    loaded = {name.split(".")[0] for name in _loaded_after(f"import {module}")}
    assert not loaded & set(WEB_FRAMEWORKS), (
        f"{module} loads {sorted(loaded & set(WEB_FRAMEWORKS))}"
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle_in_webapp() -> None:
    graph = {name: _runtime_imports(path) - {name} for name, path in MODULES.items()}
    assert _cycles(graph) == []


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", _modules(PACKAGE), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_longer_than_sixty_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{f.name} ({(f.end_lineno or f.lineno) - f.lineno + 1} lines)"
        for f in _functions(tree)
        if (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def _kind_modules() -> dict[str, Path]:
    """Return each registered kind's name and the module that defines it."""
    from webapp.jobs.registry import KINDS

    return {
        name: MODULES[sys.modules[kind.run.__module__].__name__] for name, kind in KINDS.items()
    }


def _kind_uses(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """Return where a literal kind name is used as a job's kind in ``tree``.

    A kind is used where a ``kind`` (a name or an attribute) is compared with the
    literal, where ``kind=`` is given it, or where it is assigned to ``NAME``. The
    same words have other meanings the test leaves alone: the backup choice's
    sort key (``"backup"``), the restore command's name, a blueprint's name.
    """

    def literal(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and node.value in names:
            return str(node.value)
        return None

    def is_kind(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id == "kind") or (
            isinstance(node, ast.Attribute) and node.attr == "kind"
        )

    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(map(is_kind, [node.left, *node.comparators])):
            for side in [node.left, *node.comparators]:
                values = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                uses += [(node.lineno, name) for v in values if (name := literal(v))]
        elif isinstance(node, ast.keyword) and node.arg == "kind" and (name := literal(node.value)):
            uses.append((node.value.lineno, name))
        elif (
            isinstance(node, ast.Assign)
            and (name := literal(node.value))
            and any(isinstance(t, ast.Name) and t.id == "NAME" for t in node.targets)
        ):
            uses.append((node.lineno, name))
    return uses


def test_a_job_kinds_name_is_spelled_in_its_own_module_only() -> None:
    kinds = _kind_modules()
    spelled: dict[str, list[str]] = {name: [] for name in kinds}
    for path in _modules(PACKAGE):
        for line, name in _kind_uses(ast.parse(path.read_text(encoding="utf-8")), set(kinds)):
            spelled[name].append(f"{path.relative_to(ROOT)}:{line}")
    assert spelled == {
        name: [f"{path.relative_to(ROOT)}:{_name_line(path)}"] for name, path in kinds.items()
    }


def _name_line(path: Path) -> int:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "NAME" for t in node.targets
        ):
            return node.lineno
    raise AssertionError(f"{path} has no NAME")


def test_the_kind_literal_check_finds_a_comparison_and_a_keyword() -> None:
    tree = ast.parse('if job.kind == "export": Job(kind="backup")\nNAME = "export"')
    assert sorted(_kind_uses(tree, {"export", "backup"})) == [
        (1, "backup"),
        (1, "export"),
        (2, "export"),
    ]

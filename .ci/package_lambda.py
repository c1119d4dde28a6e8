"""Build the Lambda zip: pinned manylinux wheels, our code, templates and static files.

``make package`` runs this, then ``osls package`` wraps the zip (``package.artifact``
in serverless.yml). The zip is deterministic: entries sorted, fixed timestamps and
modes, and bytecode compiled by CPython 3.12 with ``--invalidation-mode
unchecked-hash``. Lambda's code directory is read-only, so a ``.pyc`` that does not
match is recompiled on every cold start (≈0.7 s measured); hash-based ``.pyc`` carry
no timestamps to go stale.

Wheels come from ``requirements.txt`` (fully pinned, transitive ones included) for
manylinux x86_64 / CPython 3.12, binary only, so no compiler or Docker is needed. They
are cached under ``build/lambda-deps/`` by the hash of everything that shapes them.

Of the wheels, only what the functions read goes in: botocore's models for the
services the code calls (``webapp.aws.SERVICES``) and the few files botocore reads
to start; Babel's locale data for the site's languages; no tests, docs, type stubs
or pip bookkeeping of any dependency. botocore alone ships models for 400+ services
(≈16 MB of the zip); ours take ≈0.7 MB.

Dependencies go in as bytecode only: each module's ``.pyc`` where its ``.py`` was,
which CPython imports when there is no source (our own code keeps its sources).
That saves ≈2 MB of the zip; the cost is that a traceback line inside a dependency
names the file and line but not the line's text (every version is pinned, so the
source is one ``pip download`` away). Without CPython 3.12 there is no bytecode, so
the sources stay.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DEFAULT_OUTPUT = BUILD / "lambda.zip"
#: Where Lambda unpacks the zip; recorded in tracebacks instead of the build path.
TASK_ROOT = "/var/task"
#: What goes in besides the wheels: our package and the files Flask serves.
APP_TREES = ("webapp", "templates", "static")
#: Local mode (moto, demo data) never runs on Lambda, so it is not shipped.
LOCAL_ONLY = ROOT / "webapp" / "local"
#: Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34). pip does not widen
#: a manylinux tag to older ones by itself, so each accepted tag is listed.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
PIP_TARGET_ARGS = (
    *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
    "--no-compile",
)
#: 1980-01-01, the earliest time a zip can hold: nothing of the build's clock leaks in.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: zlib's default: level 9 takes nearly three times as long for a zip 0.3 % smaller.
COMPRESS_LEVEL = 6
FILE_MODE = 0o100644  # regular file, rw-r--r--
MARKER = ".complete"
#: Babel carries CLDR data for 1,100+ locales (35 MB); the site speaks ja and en
#: (``webapp.settings.LOCALES``, never with a territory), whose only parent is root.
#: Likely subtags and time-zone names come from ``global.dat``, which stays.
BABEL_LOCALES = ("root", "en", "ja")
#: What botocore reads from the top of its data folder whatever the service: the
#: endpoints and partitions, the retry rules, the defaults of ``defaults_mode``.
BOTOCORE_COMMON_DATA = (
    "_retry.json",
    "endpoints.json",
    "partitions.json",
    "sdk-default-configuration.json",
)
#: A service's request and response examples, read only to write docstrings.
BOTOCORE_EXAMPLES = "examples-1.json"
#: Left out of every dependency: type stubs and their marker, docs, tests.
LEAVE_OUT_SUFFIXES = (".pyi", ".md", ".rst")
LEAVE_OUT_NAMES = ("py.typed",)
LEAVE_OUT_DIRS = ("tests", "test")
#: pip's list of the files it installed: wrong once the tree is pruned, and read by
#: nothing at run time (METADATA, entry points and licences stay).
PIP_RECORD = "RECORD"


def find_python312() -> str | None:
    """Return a CPython 3.12 interpreter (``LAMBDA_PYTHON``, PATH or pyenv), or None."""
    pyenv = glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12"))
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which("python3.12") or ""]
    candidates += sorted(pyenv, key=_patch_level, reverse=True)
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import sys; print(sys.implementation.name, *sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if out == ["cpython", "3", "12"]:
            return candidate
    return None


def _patch_level(path: str) -> int:
    """Return the patch level in ``.../versions/3.12.N/bin/...`` (so 3.12.10 beats 3.12.9)."""
    part = Path(path).parts[-3].rsplit(".", 1)[-1]
    return int(part) if part.isdigit() else -1


def interpreter_version(python: str) -> str:
    """Return the full version of ``python`` (part of the bytecode cache key)."""
    return subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def compile_tree(python: str, root: Path, *subdirs: str, beside: bool = False) -> None:
    """Write hash-checked ``.pyc`` under ``root`` (or its ``subdirs``), as Lambda sees them.

    ``beside`` writes each ``.pyc`` next to its source (``mod.pyc``), not in
    ``__pycache__``: where CPython finds it once the source is gone.
    """
    targets = [str(root / sub) for sub in subdirs] or [str(root)]
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            *(["-b"] if beside else []),
            # One process: the order of writes, and so the output, never varies.
            "-j",
            "1",
            "--invalidation-mode",
            "unchecked-hash",
            # Tracebacks name /var/task/..., not this machine's build directory.
            "-s",
            str(root),
            "-p",
            TASK_ROOT,
            *targets,
        ],
        check=True,
    )


def install_deps(requirements: Path, python312: str | None, services: Sequence[str]) -> Path:
    """Return a directory holding the pinned wheels, installed, pruned and compiled (cached)."""
    key = hashlib.sha256()
    key.update(requirements.read_bytes())
    key.update(" ".join(PIP_TARGET_ARGS).encode())
    key.update((interpreter_version(python312) if python312 else "no bytecode").encode())
    # What is pruned and how: the services kept, and this file's own rules.
    key.update(" ".join(services).encode())
    key.update(Path(__file__).read_bytes())
    target = BUILD / "lambda-deps" / key.hexdigest()[:16]
    if (target / MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed into place, so a concurrent or interrupted build never
    # leaves a half-filled cache behind.
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(scratch),
                *PIP_TARGET_ARGS,
                "-r",
                str(requirements),
            ],
            check=True,
        )
        # Console scripts (flask, jp.py …) and data files (a man page) are never used on Lambda.
        shutil.rmtree(scratch / "bin", ignore_errors=True)
        shutil.rmtree(scratch / "share", ignore_errors=True)
        prune_tree(scratch, services)
        if python312:
            compile_tree(python312, scratch, beside=True)
            drop_compiled_sources(scratch)
        (scratch / MARKER).touch()
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    except OSError:
        if not (target / MARKER).exists():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def aws_services() -> tuple[str, ...]:
    """Return the AWS services the code calls: ``webapp.aws.SERVICES``, the one list."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from webapp.aws import SERVICES

    return tuple(sorted(set(SERVICES.values())))


def prune_tree(site: Path, services: Sequence[str]) -> None:
    """Leave in ``site`` (the installed wheels) only what the functions read."""
    prune_botocore(site, services)
    prune_babel(site)
    for directory, dirnames, filenames in os.walk(site):
        here = Path(directory)
        if here.name.endswith(".dist-info"):
            dirnames.clear()  # licences stay, whatever they are called
            if PIP_RECORD in filenames:
                (here / PIP_RECORD).unlink()
            continue
        for name in [n for n in dirnames if n in LEAVE_OUT_DIRS]:
            shutil.rmtree(here / name)
            dirnames.remove(name)
        for name in filenames:
            if name.endswith(LEAVE_OUT_SUFFIXES) or name in LEAVE_OUT_NAMES:
                (here / name).unlink()


def prune_botocore(site: Path, services: Sequence[str]) -> None:
    """Keep botocore's (and boto3's) data for ``services`` and what botocore reads to start.

    A missing model fails only when its client is built (``UnknownServiceError``), so
    a service the pinned botocore lacks stops the build instead.
    """
    data = site / "botocore" / "data"
    missing = [name for name in (*services, *BOTOCORE_COMMON_DATA) if not (data / name).exists()]
    if missing:
        raise SystemExit(f"botocore's data has no {', '.join(missing)} (webapp.aws.SERVICES?)")
    for folder in (data, site / "boto3" / "data"):
        for entry in folder.iterdir():
            # Files at the top (endpoints, partitions, retries, defaults) serve every service.
            if entry.is_dir() and entry.name not in services:
                shutil.rmtree(entry)
    for examples in data.glob(f"*/*/{BOTOCORE_EXAMPLES}"):
        examples.unlink()


def prune_babel(site: Path) -> None:
    """Drop Babel's locale data for languages the site does not speak."""
    keep = {f"{name}.dat" for name in BABEL_LOCALES}
    for data in (site / "babel" / "locale-data").glob("*.dat"):
        if data.name not in keep:
            data.unlink()


def drop_compiled_sources(site: Path) -> None:
    """Remove every ``.py`` under ``site`` whose bytecode sits beside it."""
    for source in site.rglob("*.py"):
        if source.with_suffix(".pyc").is_file():
            source.unlink()


def prune_deps(keep: Path) -> None:
    """Remove cached wheel sets other than ``keep``: older requirements are not needed."""
    for stale in keep.parent.iterdir():
        if stale != keep and (stale / MARKER).exists():
            shutil.rmtree(stale, ignore_errors=True)


def stage_app(stage: Path, python312: str | None, deps: Path | None = None) -> None:
    """Copy our code, templates and static files into ``stage``; compile the code.

    With ``deps`` (the installed wheels) the templates are compiled too.
    """
    for tree in APP_TREES:
        shutil.copytree(ROOT / tree, stage / tree, ignore=_leave_out)
    compile_catalogs(stage / "webapp" / "translations")
    if python312:
        compile_tree(python312, stage, "webapp")
        if deps is not None:
            compile_templates(python312, stage, deps)


#: Run by CPython 3.12 on the staged app and its wheels (argv: stage, deps, task root).
COMPILE_TEMPLATES = """
import sys
stage, deps, task_root = sys.argv[1:4]
sys.path[:0] = [stage, deps]
from webapp import create_app
from webapp.settings import Settings
from webapp.web.compiled import compile_templates
settings = Settings(
    export_bucket="bucket", slips_table="slips", balances_table="balances",
    cognito_user_pool_id="ap-northeast-1_build", cognito_client_id="build",
    region="ap-northeast-1", app_table="app", jobs_queue_url="http://127.0.0.1:9/queue",
    secret_key="build-only-secret-key-never-used-to-sign-anything",
    archive_key="build-only-archive-key-never-used-to-sign-anything",
)
print(compile_templates(create_app(settings), task_root), "templates compiled")
"""


def compile_templates(python312: str, stage: Path, deps: Path) -> None:
    """Compile every template with the app's Jinja environment (``web/compiled.py``)."""
    subprocess.run(
        [python312, "-I", "-S", "-B", "-c", COMPILE_TEMPLATES, str(stage), str(deps), TASK_ROOT],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _leave_out(directory: str, names: list[str]) -> set[str]:
    """Return what ``copytree`` skips in ``directory``: bytecode, caches, docs, local mode.

    Docs beside the code (the translations' GLOSSARY.md) are for people, not Lambda.
    """
    skipped = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".mo", ".md"))}
    if Path(directory) == LOCAL_ONLY.parent:
        skipped.add(LOCAL_ONLY.name)
    return skipped


def compile_catalogs(translations: Path) -> None:
    """Compile every ``.po`` under ``translations`` into the ``.mo`` Flask-Babel reads.

    The zip never depends on a ``.mo`` someone compiled by hand: any in the tree
    are replaced by ones built from the committed ``.po`` files, deterministically.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted(translations.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parts[-3])
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(name in the zip, path)`` for every file under ``root``."""
    for dirpath, _dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in filenames:
            if here == root and name == MARKER:
                continue
            path = here / name
            yield path.relative_to(root).as_posix(), path


def write_zip(output: Path, roots: list[Path]) -> None:
    """Write every file under ``roots`` into ``output``, sorted, with fixed metadata."""
    entries: dict[str, Path] = {}
    for root in roots:
        for name, path in iter_files(root):
            if name in entries:
                raise SystemExit(f"{name} comes from both {entries[name]} and {path}")
            entries[name] = path
    partial = output.with_name(f"{output.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(
        partial, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
    ) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix, so external_attr holds the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=COMPRESS_LEVEL)
    partial.replace(output)


def build(output: Path = DEFAULT_OUTPUT, *, require_bytecode: bool = False) -> Path:
    """Build the Lambda zip at ``output`` and return its path."""
    python312 = find_python312()
    if python312 is None:
        if require_bytecode:
            raise SystemExit("no CPython 3.12 found (set LAMBDA_PYTHON) to compile bytecode")
        print(
            "warning: no CPython 3.12 found (set LAMBDA_PYTHON); the zip has no bytecode, "
            "so every cold start compiles it",
            file=sys.stderr,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    deps = install_deps(ROOT / "requirements.txt", python312, aws_services())
    prune_deps(deps)
    with tempfile.TemporaryDirectory(prefix="lambda-app.", dir=BUILD) as app:
        stage_app(Path(app), python312, deps)
        write_zip(output, [deps, Path(app)])
    return output


def main(argv: list[str] | None = None) -> int:
    """Build the zip and print its size and SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--require-bytecode",
        action="store_true",
        help="fail instead of warning when no CPython 3.12 is found",
    )
    args = parser.parse_args(argv)
    try:
        output = build(args.output.resolve(), require_bytecode=args.require_bytecode)
    except subprocess.CalledProcessError as exc:
        # pip and compileall have already said why on stderr.
        command = " ".join(str(part) for part in exc.cmd[:4])
        raise SystemExit(f"packaging failed: `{command} …` exited {exc.returncode}") from None
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    size = output.stat().st_size
    print(f"{output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    print(f"  size   {size / 1e6:.1f} MB ({size} bytes)")
    print(f"  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

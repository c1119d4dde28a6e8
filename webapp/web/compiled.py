"""The templates, compiled when the Lambda zip is built: a cold start draws, never compiles.

Jinja compiles a template to Python the first time a process draws it: for the
sign-in page (``base.html``, ``auth/login.html``, ``_forms.html``) that was most of
a cold start's first request (≈45 ms of ≈60). ``.ci/package_lambda.py`` compiles
every template with the app's own Jinja environment under CPython 3.12 and ships
the bytecode in ``compiled-templates/``, beside ``templates/``; the app reads it
through Jinja's bytecode cache, which checks each template's source against the
checksum kept with its bytecode (and the Python version), so a template edited
after the build is compiled afresh, never drawn stale. Outside the zip the folder
does not exist and nothing changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

#: The folder of compiled templates, beside ``templates/`` at the zip's root.
FOLDER = "compiled-templates"


class ShippedTemplates(BytecodeCache):
    """Jinja's bytecode cache over the compiled templates of the zip; others kept in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.kept: dict[str, bytes] = {}

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        """Return the key of ``name`` (not of its path: the zip is built elsewhere)."""
        return hashlib.sha1(name.encode("utf-8")).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill ``bucket`` from memory or the zip; Jinja drops it if the source changed."""
        if bucket.key in self.kept:
            bucket.bytecode_from_string(self.kept[bucket.key])
            return
        try:
            with (self.folder / f"{bucket.key}.cache").open("rb") as fh:
                bucket.load_bytecode(fh)
        except FileNotFoundError:
            pass

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep what was compiled here in memory (the zip's folder is read-only)."""
        self.kept[bucket.key] = bucket.bytecode_to_string()


def folder_of(app: Flask) -> Path:
    """Return where the compiled templates of ``app`` are (or would be)."""
    return Path(app.root_path).parent / FOLDER


def use_compiled_templates(app: Flask) -> None:
    """Draw ``app``'s templates from the zip's compiled ones, when it has them."""
    folder = folder_of(app)
    if folder.is_dir():
        app.jinja_options = {**app.jinja_options, "bytecode_cache": ShippedTemplates(folder)}


def compile_templates(app: Flask, task_root: str) -> int:
    """Compile every template of ``app`` into its folder, as named under ``task_root``.

    ``task_root`` is where the zip is unpacked (Lambda's /var/task): tracebacks
    name the template there. Returns how many templates were compiled.
    """
    env, folder = app.jinja_env, folder_of(app)
    assert env.loader is not None
    cache = ShippedTemplates(folder)
    folder.mkdir(exist_ok=True)
    names = sorted(env.list_templates())
    for name in names:
        source, _filename, _uptodate = env.loader.get_source(env, name)
        bucket = Bucket(env, cache.get_cache_key(name), cache.get_source_checksum(source))
        bucket.code = env.compile(source, name, f"{task_root}/templates/{name}")
        with (folder / f"{bucket.key}.cache").open("wb") as fh:
            bucket.write_bytecode(fh)
    return len(names)

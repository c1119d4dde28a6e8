"""The Lambda zip's compiled templates: drawn without compiling, never stale."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from flask import Flask, render_template

from webapp.web.compiled import (
    FOLDER,
    ShippedTemplates,
    compile_templates,
    use_compiled_templates,
)


def _app(root: Path) -> Flask:
    """Return an app laid out as the zip is: webapp/, templates/ and the compiled folder."""
    (root / "webapp").mkdir(exist_ok=True)
    return Flask(__name__, root_path=str(root / "webapp"), template_folder="../templates")


def _draw(app: Flask, template: str, **context: str) -> str:
    with app.test_request_context("/"):
        return render_template(template, **context)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """Return a tree with one template, compiled as the zip's build compiles them."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("Hello {{ name }}!")
    assert compile_templates(_app(tmp_path), "/var/task") == 1
    return tmp_path


def test_a_compiled_template_is_drawn_without_compiling(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(built)
    use_compiled_templates(app)
    compiled: list[str] = []
    compile_source = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, *args: object, **kwargs: object) -> object:
        compiled.append(source)
        return compile_source(self, source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)

    assert _draw(app, "page.html", name="Hanako") == "Hello Hanako!"
    assert compiled == []


def test_a_template_changed_after_the_build_is_compiled_afresh(built: Path) -> None:
    (built / "templates" / "page.html").write_text("Goodbye {{ name }}.")
    app = _app(built)
    use_compiled_templates(app)

    assert _draw(app, "page.html", name="Hanako") == "Goodbye Hanako."


def test_without_the_compiled_folder_templates_are_compiled_as_usual(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("Hi {{ name }}")
    app = _app(tmp_path)
    use_compiled_templates(app)

    assert not (tmp_path / FOLDER).exists()
    assert not isinstance(app.jinja_options.get("bytecode_cache"), ShippedTemplates)
    assert _draw(app, "page.html", name="Taro") == "Hi Taro"

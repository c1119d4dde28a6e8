"""Map HTTP errors to the site's own error pages."""

from __future__ import annotations

from flask import Flask, render_template
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, InternalServerError


def render_error(error: HTTPException) -> tuple[str, int]:
    """Render ``errors/<code>.html`` (or the generic page) for an HTTP error."""
    code = error.code or 500
    try:
        return render_template(f"errors/{code}.html", error=error), code
    except TemplateNotFound:
        return render_template("errors/error.html", error=error), code


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""
    app.register_error_handler(HTTPException, render_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        # Never a stack trace: log it, show the 500 page.
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(InternalServerError())

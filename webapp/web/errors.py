"""Map HTTP errors to the site's own error pages, in the site's words and language.

A server error (5xx) is also one JSON log line (``request_error``): the method,
the path without its query, the status, the error's class, API Gateway's request
id and the user's hash, never the email or the page's words.
"""

from __future__ import annotations

import sys

from flask import Flask, current_app, make_response, render_template, request, session
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

#: Our name for each error, shown as the page's small print and its title.
TITLES = {
    400: _l("Bad request"),
    401: _l("Not signed in"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Wrong kind of request"),
    413: _l("Too large"),
    429: _l("Too many requests"),
    500: _l("Server error"),
    503: _l("Temporarily unavailable"),
}
#: The title of any other error.
OTHER = _l("Something did not work")


def render_error(error: HTTPException) -> Response:
    """Render ``errors/<code>.html`` (or the generic page) for an HTTP error.

    Werkzeug's stock sentence is never shown: only a description our code gave
    (already in the page's language) reaches the page, else the template's own
    words. Headers the error carries (``Allow`` on a 405) are kept.
    """
    code = error.code or 500
    if code >= 500:
        log_request_error(code, error)
    own = error.description if error.description != type(error).description else None
    context = {"code": code, "title": TITLES.get(code, OTHER), "description": own}
    try:
        body = render_template(f"errors/{code}.html", **context)
    except TemplateNotFound:
        body = render_template("errors/error.html", **context)
    response = make_response(body, code)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def log_request_error(code: int, error: HTTPException) -> None:
    """Write the JSON line of one request that ended in a server error."""
    from ..telemetry import user_hash
    from .context import SERVICES

    # Inside an error handler the exception that led here is still being handled.
    cause = sys.exc_info()[1] or getattr(error, "original_exception", None) or error
    context = request.environ.get("apig_wsgi.request_context") or {}
    sub = session.get("sub") if session else None
    current_app.extensions[SERVICES].telemetry.event(
        "request_error",
        level="ERROR",
        status=code,
        method=request.method,
        path=request.path,
        error_class=type(cause).__name__,
        request_id=context.get("requestId") if isinstance(context, dict) else None,
        user_hash=user_hash(sub) if isinstance(sub, str) else None,
    )


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""
    app.register_error_handler(HTTPException, render_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Never a stack trace: log it, show the 500 page.
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(InternalServerError())

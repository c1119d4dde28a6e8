"""Map HTTP errors to the site's own error pages, in the site's words and language."""

from __future__ import annotations

from flask import Flask, make_response, render_template
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


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""
    app.register_error_handler(HTTPException, render_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Never a stack trace: log it, show the 500 page.
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(InternalServerError())

"""Security headers on every response, the checks on every POST, and the CSRF refusal page.

Before the CSRF token is even looked at, a POST must come from one of our own
pages (``Origin``, else ``Referer``, when the browser sends either) and carry a
form that can be read as UTF-8; each refusal says which it was.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from flask import Flask, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from .errors import render_error

#: Only our own files may run or style a page: no inline script or style="".
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        # Downloads are GET links that redirect to S3; a form posting to a URL
        # that redirects off-site would be blocked by this.
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Nothing of our URLs (archive ids, upload keys) reaches another site. Not
    # "no-referrer": under it browsers send "Origin: null" even on our own forms,
    # and the Origin check below could not tell them from a hostile page's.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"
CSRF_MESSAGE = _l("The form's security token was missing or wrong, so nothing was changed.")
CROSS_SITE_MESSAGE = _l("The form was sent from another site, so nothing was changed.")
FOREIGN_ORIGIN_MESSAGE = _l(
    "The form was sent from a page that is not part of Kakeibo Export, so nothing was changed. "
    "Open Kakeibo Export itself and try again."
)
UNREADABLE_FORM_MESSAGE = _l(
    "The form could not be read: it was not sent as UTF-8 text, so nothing was changed."
)
_FORM_TYPE = "application/x-www-form-urlencoded"
#: Fetch metadata values of a request made by another site's page.
_FOREIGN_SITES = frozenset({"cross-site", "same-site"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def register(app: Flask) -> None:
    """Add the security headers, the cross-site check and the CSRF page to ``app``."""
    # Flask-WTF's "strict" HTTPS check demands a same-origin Referer on every
    # POST, which privacy settings and extensions often strip. The CSRF token
    # still applies; the Origin check and Sec-Fetch-Site take the Referer's place.
    app.config["WTF_CSRF_SSL_STRICT"] = False
    # Ahead of Flask-WTF's own check (registered earlier), so a foreign page or
    # an unreadable form is named as such, not as a missing token.
    first = app.before_request_funcs.setdefault(None, [])
    first[0:0] = [refuse_foreign_origin, refuse_unreadable_form]
    app.before_request(refuse_cross_site)
    app.after_request(add_headers)
    app.register_error_handler(CSRFError, csrf_failed)


def refuse_cross_site() -> None:
    """Refuse a state-changing request that another site's page sent."""
    if (
        request.method in _UNSAFE_METHODS
        and request.headers.get("Sec-Fetch-Site", "").lower() in _FOREIGN_SITES
    ):
        abort(400, description=str(CROSS_SITE_MESSAGE))


def own_origin() -> str:
    """Return this site's origin as a browser writes it (``https://host[:port]``)."""
    return f"{request.scheme}://{request.host}".lower()


def refuse_foreign_origin() -> None:
    """Refuse (403) a state-changing request whose Origin or Referer is another site.

    Without either header (privacy tools strip them) the CSRF token alone
    decides; ``Origin: null`` (a sandboxed frame, a ``data:`` page) is foreign. The restore upload
    posts to S3, not here, and S3 sends the browser back with a GET.
    """
    if request.method not in _UNSAFE_METHODS:
        return
    sent = request.headers.get("Origin")
    if sent is None:
        referer = request.headers.get("Referer")
        if not referer:
            return
        parts = urlsplit(referer)
        sent = f"{parts.scheme}://{parts.netloc}"
    if sent.strip().lower().rstrip("/") != own_origin():
        abort(403, description=str(FOREIGN_ORIGIN_MESSAGE))


def refuse_unreadable_form() -> None:
    """Refuse (400) a posted form whose bytes are not UTF-8, with a message saying so."""
    if request.method not in _UNSAFE_METHODS or request.mimetype != _FORM_TYPE:
        return
    # Within MAX_CONTENT_LENGTH; cached, so the form is then parsed from the same bytes.
    body = request.get_data(cache=True)
    try:
        parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        abort(400, description=str(UNREADABLE_FORM_MESSAGE))


def allow_form_action(origin: str) -> None:
    """Let this page's forms post to ``origin`` too (the bucket a file is uploaded to)."""
    g.form_action = origin


def content_security_policy() -> str:
    """Return the page's policy: ours, with one more form target if the view allowed it."""
    extra = g.get("form_action")
    if not extra:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {extra}")


def add_headers(response: Response) -> Response:
    """Set the security headers; forbid caching of anything but static files."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers["Content-Security-Policy"] = content_security_policy()
    if request.endpoint != "static" or response.status_code not in (200, 304):
        # Pages, redirects and errors (a 404 under /static/ too) carry personal
        # data or depend on the session.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def csrf_failed(error: CSRFError) -> Response:
    """Explain a missing or wrong CSRF token in words, with a 400."""
    return render_error(BadRequest(description=str(CSRF_MESSAGE)))

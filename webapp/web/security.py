"""Security headers on every response, and the CSRF refusal page."""

from __future__ import annotations

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
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"
CSRF_MESSAGE = _l("The form's security token was missing or wrong, so nothing was changed.")
CROSS_SITE_MESSAGE = _l("The form was sent from another site, so nothing was changed.")
#: Fetch metadata values of a request made by another site's page.
_FOREIGN_SITES = frozenset({"cross-site", "same-site"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def register(app: Flask) -> None:
    """Add the security headers, the cross-site check and the CSRF page to ``app``."""
    # Flask-WTF's "strict" HTTPS check demands a same-origin Referer on every
    # POST, which Referrer-Policy: no-referrer never lets the browser send. The
    # CSRF token still applies; Sec-Fetch-Site below takes the Referer's place.
    app.config["WTF_CSRF_SSL_STRICT"] = False
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
    if request.endpoint != "static":
        # Pages and redirects carry personal data or depend on the session.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def csrf_failed(error: CSRFError) -> Response:
    """Explain a missing or wrong CSRF token in words, with a 400."""
    return render_error(BadRequest(description=str(CSRF_MESSAGE)))

"""API Gateway events checked before apig-wsgi sees them: a malformed one gets a 400 page.

apig-wsgi trusts the event's shape: a missing ``requestContext.http``, headers
that are not a mapping of strings, a body that is not base64 when it says it is,
and the like raise inside it, before Flask, so Lambda would answer with an
error and none of our headers. ``guard`` checks what apig-wsgi reads (payload
2.0 only: serverless.yml sends nothing else) and answers anything else itself,
with the site's 400 page and security headers.

A well-shaped event may still hold text that WSGI cannot carry: WSGI's strings
stand for bytes (each character one byte, Latin-1), so a path, query string,
header or cookie with a character beyond U+00FF, or a lone surrogate anywhere
(JSON can spell one, UTF-8 cannot), raised in apig-wsgi or werkzeug. ``wsgi_text``
turns such text into what a server would have received: its UTF-8 bytes
(percent-encoded in the path and query), a lone surrogate as U+FFFD. Whatever
is left goes through the app, and anything the app raises becomes our 500 page.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from flask import Flask
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

log = logging.getLogger(__name__)

#: requestContext.http fields apig-wsgi reads, all text.
_HTTP_FIELDS = ("method", "sourceIp", "protocol")
#: What a path or query string may hold as it is: ASCII. Anything else is percent-encoded.
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")
#: What a header may hold as it is: one byte per character, and no surrogate.
_NOT_LATIN_1 = re.compile(r"[^\x00-\xff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def problem(event: object) -> str | None:
    """Return what is wrong with a payload 2.0 event, or None if apig-wsgi can take it."""
    if not isinstance(event, Mapping):
        return "the event is not an object"
    if event.get("version") != "2.0":
        return "not a payload 2.0 event"
    context = event.get("requestContext")
    if not isinstance(context, Mapping) or "elb" in context:
        return "requestContext is missing or not an object"
    http = context.get("http")
    if not isinstance(http, Mapping):
        return "requestContext.http is missing or not an object"
    for name in _HTTP_FIELDS:
        if not isinstance(http.get(name), str) or not http[name]:
            return f"requestContext.http.{name} is missing or not text"
    for name in ("rawPath", "rawQueryString"):
        if not isinstance(event.get(name), str):
            return f"{name} is missing or not text"
    headers = event.get("headers")
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return "headers are missing or not text"
    cookies = event.get("cookies", [])
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        return "cookies are not a list of text"
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return "the body is not text"
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        return "isBase64Encoded is not true or false"
    if encoded and body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "the body is not base64"
    return None


def guard(app: Flask, handler: Handler) -> Handler:
    """Wrap apig-wsgi's ``handler``: answer a malformed event with a 400 of our own."""

    def guarded(event: dict[str, Any], context: Any) -> dict[str, Any]:
        reason = problem(event)
        if reason is not None:
            log.warning("Refused a malformed API Gateway event: %s", reason)
            return refusal(app)
        try:
            return handler(wsgi_event(event), context)
        except Exception:
            # Flask answers what the app raises with our 500 page; this is for
            # anything before or after it, so Lambda never answers with its own.
            log.exception("An API Gateway event raised outside the app")
            return refusal(app, InternalServerError())

    return guarded


def wsgi_text(text: str, *, url: bool) -> str:
    """Return ``text`` as WSGI can carry it: its UTF-8 bytes, one character each.

    In a path or query string (``url``) every non-ASCII character becomes its
    percent-encoded UTF-8, as a browser sends it; in a header, only text that is
    not Latin-1 already becomes its UTF-8 bytes read as Latin-1. A lone
    surrogate, which has no UTF-8, becomes U+FFFD first.
    """
    text = _SURROGATE.sub("\ufffd", text)
    if url:
        return _NOT_ASCII.sub(lambda match: quote(match.group(), safe=""), text)
    if _NOT_LATIN_1.search(text) is None:
        return text
    return text.encode("utf-8").decode("latin-1")


def wsgi_event(event: dict[str, Any]) -> dict[str, Any]:
    """Return a checked event with every text apig-wsgi passes on made WSGI-safe."""
    fixed = dict(event)
    for name in ("rawPath", "rawQueryString"):
        fixed[name] = wsgi_text(event[name], url=True)
    fixed["headers"] = {
        wsgi_text(k, url=False): wsgi_text(v, url=False) for k, v in event["headers"].items()
    }
    fixed["cookies"] = [wsgi_text(c, url=False) for c in event.get("cookies", [])]
    body = event.get("body")
    if body and not event.get("isBase64Encoded", False):
        fixed["body"] = _SURROGATE.sub("\ufffd", body)  # sent on as UTF-8
    return fixed


def refusal(app: Flask, error: HTTPException | None = None) -> dict[str, Any]:
    """Return the site's 400 page (or ``error``'s) as a payload 2.0 response, with our headers."""
    from .web.errors import render_error
    from .web.security import add_headers

    error = error or BadRequest()
    # A request of our own making: nothing of the malformed event reaches the app.
    with app.test_request_context("/", method="GET"):
        response = add_headers(render_error(error))
        headers = {name.lower(): value for name, value in response.headers.items()}
        body = response.get_data(as_text=True)
    return {
        "statusCode": error.code or 500,
        "headers": headers,
        "cookies": [],
        "isBase64Encoded": False,
        "body": body,
    }

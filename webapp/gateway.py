"""API Gateway events checked before apig-wsgi sees them: a malformed one gets a 400 page.

apig-wsgi trusts the event's shape: a missing ``requestContext.http``, headers
that are not a mapping of strings, a body that is not base64 when it says it is,
and the like raise inside it, before Flask, so Lambda would answer with an
error and none of our headers. ``guard`` checks what apig-wsgi reads (payload
2.0 only: serverless.yml sends nothing else) and answers anything else itself,
with the site's 400 page and security headers.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import BadRequest

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

log = logging.getLogger(__name__)

#: requestContext.http fields apig-wsgi reads, all text.
_HTTP_FIELDS = ("method", "sourceIp", "protocol")


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
        if reason is None:
            return handler(event, context)
        log.warning("Refused a malformed API Gateway event: %s", reason)
        return refusal(app)

    return guarded


def refusal(app: Flask) -> dict[str, Any]:
    """Return the site's 400 page as a payload 2.0 response, with the security headers."""
    from .web.errors import render_error
    from .web.security import add_headers

    # A request of our own making: nothing of the malformed event reaches the app.
    with app.test_request_context("/", method="GET"):
        response = add_headers(render_error(BadRequest()))
        headers = {name.lower(): value for name, value in response.headers.items()}
        body = response.get_data(as_text=True)
    return {
        "statusCode": 400,
        "headers": headers,
        "cookies": [],
        "isBase64Encoded": False,
        "body": body,
    }

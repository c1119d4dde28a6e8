"""AWS Lambda entry point: API Gateway HTTP API (payload 2.0) events into the Flask app.

``serverless.yml`` names ``webapp.lambda_handler.handler``. The app is built when
Lambda imports this module (its init phase), so settings are checked, and the
session key read from SSM, once per container; warm invocations reuse the app, its
boto3 clients and the key. A missing setting or unreadable secret fails the init
with a message naming it, and nothing is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apig_wsgi import make_lambda_handler

from . import create_app
from .gateway import guard

app = create_app()

# Payload 2.0 returns every Set-Cookie in its own `cookies` list (1.0 keeps only the
# last) and base64-encodes any response that is not text, such as images. A malformed
# event never reaches apig-wsgi: `guard` answers it with a 400 of ours.
handler: Callable[[dict[str, Any], Any], dict[str, Any]] = guard(
    app, make_lambda_handler(app, binary_support=True)
)

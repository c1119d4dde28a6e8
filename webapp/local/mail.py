"""Local mode: print the password-reset code that moto would have mailed (it sends none)."""

from __future__ import annotations

from typing import Any

from ..aws import Clients

#: moto's way of handing the code back (not AWS's: Cognito mails it).
CODE_HEADER = "x-moto-forgot-password-confirmation-code"


def print_reset_codes(clients: Clients) -> None:
    """Print each reset code Cognito (moto) issues to the app's console."""

    def show(http_response: Any, **_: Any) -> None:
        code = http_response.headers.get(CODE_HEADER)
        if code:
            print(f"  Local mode: the password reset code is {code}", flush=True)

    clients.cognito.meta.events.register("after-call.cognito-idp.ForgotPassword", show)

"""Local mode: print the password-reset code that moto would have mailed (it sends none).

moto issues codes like ``moto-confirmation-code:123456`` and checks only a code
typed in that shape; any other code (``123456`` alone, say) it accepts. The line
printed says so, as the README does.
"""

from __future__ import annotations

from typing import Any

from ..aws import Clients

#: moto's way of handing the code back (not AWS's: Cognito mails it).
CODE_HEADER = "x-moto-forgot-password-confirmation-code"


def reset_code_line(code: str) -> str:
    """Return what local mode prints for a reset code moto issued."""
    return (
        f"  Local mode: the password reset code is {code} (type all of it; moto also "
        "accepts any code without the moto-confirmation-code: prefix)"
    )


def print_reset_codes(clients: Clients) -> None:
    """Print each reset code Cognito (moto) issues to the app's console."""

    def show(http_response: Any, **_: Any) -> None:
        code = http_response.headers.get(CODE_HEADER)
        if code:
            print(reset_code_line(code), flush=True)

    clients.cognito.meta.events.register("after-call.cognito-idp.ForgotPassword", show)

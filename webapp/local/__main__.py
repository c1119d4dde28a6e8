"""``python -m webapp.local`` (``make run``): the app on an embedded moto, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys

from .demo import DEMO_PASSWORD
from .mail import print_reset_codes
from .stack import start_stack


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Run the app locally until Ctrl-C."""
    from .. import create_app

    # Ctrl-C and a plain `kill` both stop the app and moto cleanly, even when
    # started in the background (where a shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print("Starting local AWS (moto) and loading demo data…", flush=True)
    stack = start_stack()
    try:
        app = create_app(stack.settings)
        # moto sends no mail: the reset code is printed here instead.
        print_reset_codes(app.extensions["kakeibo.clients"])
        url = f"http://{host}:{port}/"
        banner = [
            "",
            f"  Kakeibo Export is running at {url}",
            f"  Local AWS (moto):            {stack.settings.endpoint_url}",
            "  Demo users (password " + DEMO_PASSWORD + "):",
            *(f"    {email}" for email in stack.users),
            "  Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(banner), flush=True)
        app.run(host=host, port=port, debug=False, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C while moto shuts down must not leave a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

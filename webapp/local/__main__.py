"""``python -m webapp.local`` (``make run``): the app on an embedded moto, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

from .banner import banner
from .mail import print_reset_codes
from .stack import start_stack


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> NoReturn:
    """Run the app locally until Ctrl-C or SIGTERM, then exit at once."""
    from .. import create_app

    # Ctrl-C and a plain `kill` both stop the app and moto cleanly, even when
    # started in the background (where a shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print("Starting local AWS (moto) and loading demo data…", flush=True)
    try:
        stack = start_stack()
    except KeyboardInterrupt:  # stopped while starting: start_stack stopped moto itself
        print("Stopped.", flush=True)
        _exit(0)
    try:
        app = create_app(stack.settings)
        # moto sends no mail: the reset code is printed here instead.
        print_reset_codes(app.extensions["kakeibo.services"].clients)
        url = f"http://{host}:{port}/"
        print("\n".join(banner(stack, url)), flush=True)
        app.run(host=host, port=port, debug=False, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C or kill while moto shuts down must not leave a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("Stopped.", flush=True)
    _exit(0)


def _exit(code: int) -> NoReturn:
    """End the process now, skipping the interpreter's teardown.

    Everything worth stopping has stopped (the worker thread, moto, the web
    server). What is left is moto's in-memory AWS with the demo data, and tearing
    down its objects one by one kept a core busy for seconds after
    "Stopped." (20 s on a loaded machine). Nothing in it outlives the process
    anyway, so flush the output and leave.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

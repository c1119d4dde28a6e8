"""A moto server of its own that enforces IAM and writes down every permission it checks.

``tests/test_iam.py`` runs it as a separate process (``python tests/iam_moto.py LEDGER``):
moto's IAM switch (``/moto-api/reset-auth``) is global to a process, so the rest of the
suite's moto must never see it. It prints its URL, serves until its standard input
closes, and appends one JSON line per check to LEDGER: who asked (the assumed role's
ARN), the IAM action, the resource, the ``s3:prefix`` of a ListBucket, and whether moto
allowed it.

Two deviations from moto, both towards AWS: Cognito operations that AWS authorises by
the caller's token or a public client (never by IAM) are let through, as moto already
does for InitiateAuth, GetUser and the like; everything else moto checks as it does.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, urlparse

#: Cognito user-pool operations IAM does not evaluate (the access token or the app
#: client authorises them); moto lists only some of them as public.
TOKEN_OPERATIONS = [
    f"AWSCognitoIdentityProviderService.{name}"
    for name in (
        "RespondToAuthChallenge",
        "ConfirmForgotPassword",
        "AssociateSoftwareToken",
        "VerifySoftwareToken",
        "SetUserMFAPreference",
        "ChangePassword",
        "GlobalSignOut",
        "RevokeToken",
    )
]


def main(ledger_path: str) -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam import access_control
    from moto.server import ThreadedMotoServer

    ActionAuthenticatorMixin.PUBLIC_OPERATIONS = [
        *ActionAuthenticatorMixin.PUBLIC_OPERATIONS,
        *TOKEN_OPERATIONS,
    ]
    lock = threading.Lock()
    ledger = open(ledger_path, "a", encoding="utf-8")  # noqa: SIM115 (open while serving)
    checked = access_control.IAMRequestBase.check_action_permitted

    def check(self: Any, resource: str) -> None:
        query = parse_qs(urlparse(self._path).query, keep_blank_values=True)
        if self._action == "s3:DeleteObject" and "delete" in query and resource.count("/") == 0:
            # DeleteObjects: moto checks the bucket, AWS checks s3:DeleteObject on each key.
            for key in re.findall(rb"<Key>(.*?)</Key>", self._body or b""):
                one(self, f"{resource}/{html.unescape(key.decode())}")
            return
        one(self, resource)

    def one(self: Any, resource: str) -> None:
        entry = {
            "principal": getattr(self._access_key, "arn", "?"),
            "action": self._action,
            "resource": resource,
            "prefix": parse_qs(urlparse(self._path).query).get("prefix", [None])[0],
        }
        try:
            checked(self, resource)
        except BaseException:
            entry["allowed"] = False
            raise
        else:
            entry["allowed"] = True
        finally:
            with lock:
                ledger.write(json.dumps(entry) + "\n")
                ledger.flush()

    access_control.IAMRequestBase.check_action_permitted = check  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the test closes it (or dies)
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1])

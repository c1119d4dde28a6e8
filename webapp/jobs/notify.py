"""The mail after an automatic backup: what was saved, or what failed, and a link to the page.

Sent with SES from ``NOTIFY_FROM`` (a verified identity) only when that is set.
The link is the site's page, never a presigned URL: mail scanners fetch every
link in a mail, and a download link must not be spent (or leaked) that way.
The mail is in both of the site's languages, Japanese first: the worker has no
request, so it cannot know which one the user reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    """One plain-text mail."""

    subject: str
    body: str


def _size(size: int) -> str:
    for unit, step in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= step:
            return f"{size / step:.1f} {unit}"
    return f"{size} B"


def backup_mail(outcome: dict[str, Any], *, site_url: str, when: str) -> Mail:
    """Return the mail telling the user how their automatic backup went."""
    page = site_url.rstrip("/") + "/#backups-heading"
    if outcome.get("state") == "done":
        counts = outcome.get("counts") or {}
        slips, balances = int(counts.get("slips", 0)), int(counts.get("balances", 0))
        size = _size(int(outcome.get("size", 0)))
        return Mail(
            subject="家計簿エクスポート: 自動バックアップを作成しました / Automatic backup made",
            body=(
                f"{when} に自動バックアップを作成しました: 伝票 {slips:,} 件、残高 {balances:,} 件"
                f" ({size})。\n"
                f"ダウンロードや復元は次のページからどうぞ (サインインが必要です):\n{page}\n\n"
                f"Your automatic backup was made at {when}: {slips:,} slips and {balances:,} "
                f"balances ({size}).\n"
                f"Download or restore it from your page (you will be asked to sign in):\n{page}\n"
            ),
        )
    reason = str(outcome.get("message") or "")
    return Mail(
        subject="家計簿エクスポート: 自動バックアップに失敗しました / Automatic backup failed",
        body=(
            f"{when} の自動バックアップに失敗しました。明日もう一度試します。\n"
            f"理由: {reason}\n詳しくは次のページをご覧ください:\n{page}\n\n"
            f"Your automatic backup of {when} failed; it will be tried again tomorrow.\n"
            f"Reason: {reason}\nSee your page for details:\n{page}\n"
        ),
    )


def send(ses: SESClient, sender: str, to: str, mail: Mail) -> bool:
    """Send ``mail``; return whether SES took it (a failed mail never fails the backup)."""
    try:
        ses.send_email(
            Source=sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": mail.body, "Charset": "UTF-8"}},
            },
        )
    except (ClientError, BotoCoreError):
        logger.warning("the backup mail to the user could not be sent", exc_info=True)
        return False
    return True


@dataclass(frozen=True)
class Mailer:
    """Mails users how their automatic backup went, from the configured sender."""

    ses: SESClient
    sender: str
    #: The site's address, for the link (the page, never a download link).
    site_url: str
    #: The zone the mail gives the time in (the one the page shows).
    timezone: str
    now: Callable[[], datetime]

    def backup_result(self, address: str, outcome: dict[str, Any]) -> bool:
        """Mail ``address`` the outcome of its backup; return whether SES took it."""
        when = self.now().astimezone(ZoneInfo(self.timezone))
        message = backup_mail(outcome, site_url=self.site_url, when=f"{when:%Y-%m-%d %H:%M}")
        return send(self.ses, self.sender, address, message)

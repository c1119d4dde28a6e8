"""The mails about automatic backups: what was saved, what failed, what is overdue; a link.

Sent with SES from ``NOTIFY_FROM`` (a verified identity) only when that is set.
The link is the site's page, never a presigned URL: mail scanners fetch every
link in a mail, and a download link must not be spent (or leaked) that way.
The mail is in both of the site's languages, Japanese first: the worker has no
request, so it cannot know which one the user reads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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
            subject="家計簿エクスポート：自動バックアップを作成しました / Automatic backup made",
            body=(
                f"{when}に自動バックアップを作成しました：伝票 {slips:,}件と残高 {balances:,}件"
                f"（{size}）。\n"
                f"ダウンロードや復元は次のページからどうぞ（サインインが必要です）：\n{page}\n\n"
                f"Your automatic backup was made at {when}: {slips:,} slips and {balances:,} "
                f"balances ({size}).\n"
                f"Download or restore it from your page (you will be asked to sign in):\n{page}\n"
            ),
        )
    error = outcome.get("error")
    fields = outcome.get("error_fields") or {}
    reason = _reason(str(error), fields, "en") if error else str(outcome.get("message") or "")
    riyuu = _reason(str(error), fields, "ja") if error else reason
    return Mail(
        subject="家計簿エクスポート：自動バックアップに失敗しました / Automatic backup failed",
        body=(
            f"{when}の自動バックアップに失敗しました。明日もう一度試します。"
            "ページの「今すぐバックアップ」で今すぐ試すこともできます。\n"
            f"理由：{riyuu}\n詳しくは次のページをご覧ください：\n{page}\n\n"
            f"Your automatic backup of {when} failed; it will be tried again tomorrow, "
            'or press "Back up now" on your page to try at once.\n'
            f"Reason: {reason}\nSee your page for details:\n{page}\n"
        ),
    )


def overdue_mail(since: str, *, site_url: str) -> Mail:
    """Return the mail telling the user that no automatic backup has succeeded for too long."""
    page = site_url.rstrip("/") + "/#backups-heading"
    return Mail(
        subject="家計簿エクスポート：自動バックアップが遅れています / Automatic backup overdue",
        body=(
            f"{since}以降、自動バックアップが一度も成功していません。"
            "次のページで状況を確かめ、「今すぐバックアップ」を押してください"
            f"（サインインが必要です）：\n{page}\n\n"
            f"No automatic backup has succeeded since {since}. Check your page and press "
            f'"Back up now" (you will be asked to sign in):\n{page}\n'
        ),
    )


def _reason(message: str, fields: dict[str, Any], locale: str) -> str:
    """Return a failure's message for the user in ``locale`` (the site's own catalog)."""
    text = _catalog(locale).gettext(message) if locale != "en" else message
    try:
        return text % fields if fields else text
    except (KeyError, TypeError, ValueError):
        return message


@functools.cache
def _catalog(locale: str) -> Any:
    """Return the site's compiled translations for ``locale`` (English if none are built)."""
    from babel.support import Translations

    return Translations.load(str(Path(__file__).resolve().parent.parent / "translations"), [locale])


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

    def backup_overdue(self, address: str, since: datetime) -> bool:
        """Mail ``address`` that no backup has succeeded since ``since``; whether SES took it."""
        local = since.astimezone(ZoneInfo(self.timezone))
        message = overdue_mail(f"{local:%Y-%m-%d}", site_url=self.site_url)
        return send(self.ses, self.sender, address, message)

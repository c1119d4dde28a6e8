"""The site's language: chosen by the visitor, else their browser's, else the default.

The choice is a cookie set by ``POST /language`` (the 日本語 / English switch in
the header, a form, so it works without JavaScript); it holds only ``ja`` or
``en``. Times are shown in the display time zone whatever the language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from flask import Blueprint, abort, redirect, request
from flask_babel import format_decimal, get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..errors import UserError
from ..jobs.submit import TooManyJobs
from ..settings import LOCALES
from .auth.session import safe_next
from .context import get_settings

bp = Blueprint("i18n", __name__)

LANGUAGE_COOKIE = "lang"
#: A year: the choice outlives sessions, as a language setting should.
COOKIE_MAX_AGE = 365 * 24 * 3600
#: Each language's name in itself, for the switch.
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


def select_locale() -> str:
    """Return the page's language: the cookie, else Accept-Language, else the default."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or get_settings().default_locale


def select_timezone() -> str:
    """Return the zone every time on the page is shown in."""
    return get_settings().display_timezone


def translate_error(error: UserError) -> str:
    """Return a core error's message in the page's language, its numbers formatted."""
    return translate_message(error.message, error.fields)


def translate_detail(error: UserError) -> str:
    """Return a core error's technical detail in the page's language ("" if it has none)."""
    return translate_message(error.detail or "", error.fields)


#: Values the core puts into its sentences that a page says in its own words.
TABLE_WORDS = {"slips": _l("slips"), "balances": _l("balances")}


def translate_message(message: str, fields: Mapping[str, object]) -> str:
    """Return an English msgid (as the core and job records keep it) in the page's language."""
    if not message:
        return ""
    values = {name: _value(name, value) for name, value in fields.items()}
    text = str(gettext(message, **values))
    if message.startswith("%(") or str(get_locale() or "en") != "en":
        # It opens with a name (a file's, as it is in the zip), or the language has no
        # capitals that a translation would not already have: keep it as it is.
        return text
    # The core's reasons are clauses ("the archive has no …"); on a page they open a sentence.
    return text[:1].upper() + text[1:]


def _value(name: str, value: object) -> object:
    if isinstance(value, int):
        return format_decimal(value)
    if name == "table" and value in TABLE_WORDS:
        return str(TABLE_WORDS[str(value)])
    return value


def too_many_jobs(exc: TooManyJobs) -> str:
    """Return the message for one job too many: at once, or in a day."""
    if exc.retry_in is not None:
        hours = max(1, math.ceil(exc.retry_in.total_seconds() / 3600))
        return str(
            ngettext(
                "You have started %(count)s exports and restores in the last 24 hours, the "
                "most one account may. Try again in %(num)d hour.",
                "You have started %(count)s exports and restores in the last 24 hours, the "
                "most one account may. Try again in %(num)d hours.",
                hours,
                count=exc.limit,
            )
        )
    return str(
        ngettext(
            "You already have %(count)s export in progress. Wait for it to finish "
            "(or cancel it), then try again.",
            "You already have %(count)s exports in progress. Wait for one to finish "
            "(or cancel one), then try again.",
            exc.limit,
            count=exc.limit,
        )
    )


@bp.post("/language")
def switch() -> Response:
    """Remember the chosen language in a cookie and go back to the page it was chosen on."""
    chosen = request.form.get("lang", "")
    if chosen not in LOCALES:
        abort(400, description=gettext("Choose 日本語 or English."))
    response = redirect(safe_next(request.form.get("next")), code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=not get_settings().local,
    )
    return response


@bp.app_context_processor
def inject_language() -> dict[str, object]:
    """Give every template the page's language and the switch's choices."""
    return {"page_lang": str(get_locale() or "en"), "language_names": LANGUAGE_NAMES}

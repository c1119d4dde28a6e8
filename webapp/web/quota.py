"""The answer to one job too many: the user's quota, in the page's words.

Every page that starts a job (an export, a restore check, a restore, a backup
asked for now) refuses the one too many with the same sentence.
"""

from __future__ import annotations

import math

from flask_babel import ngettext

from ..jobs.submit import TooManyJobs


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

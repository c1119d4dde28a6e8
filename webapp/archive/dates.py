"""The period of an export: a range of days, checked in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..errors import N_
from .errors import InvalidRange


@dataclass(frozen=True)
class DateRange:
    """The days of an export, both ends included; never reversed."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidRange(N_("The last day must be on or after the first day."))

    @property
    def days(self) -> int:
        """Return how many days the range covers."""
        return (self.end - self.start).days + 1


#: The period of an automatic backup: the user's whole partition (every sort key
#: starts with a four-digit-year date).
EVERYTHING = DateRange(date(1000, 1, 1), date(9999, 12, 31))


def check_range(start: date, end: date, *, max_span_days: int) -> DateRange:
    """Return the range from ``start`` to ``end``; raise InvalidRange saying what is wrong."""
    if max_span_days < 1:
        raise ValueError("max_span_days must be at least 1")
    date_range = DateRange(start, end)
    if date_range.days > max_span_days:
        raise InvalidRange(
            N_(
                "One export can cover at most %(max)s days; this range has %(days)s. "
                "Split it into shorter ranges."
            ),
            max=max_span_days,
            days=date_range.days,
        )
    return date_range

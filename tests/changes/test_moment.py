"""Restore to a moment and rebuild after a loss, proved on random histories.

Random puts, updates and deletes over a few keys of both tables, at increasing
times, become the stream records DynamoDB would send; they are recorded through
the recorder in batches that arrive out of order, twice, and cut in other places.
Then, for every moment in the window, putting the final table back to it gives
exactly the table as it was then; and a snapshot plus the changes since gives
exactly the final table.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from webapp.changes.keys import Segment, tag_of
from webapp.changes.moment import Key, behind, rebuild, state_at, window
from webapp.changes.store import utc_ms
from webapp.model import TableName
from webapp.services import Services

T0 = 1_765_000_000_000  # ms
STREAMS = {
    "slips": "arn:aws:dynamodb:ap-northeast-1:1:table/{slips}/stream/2026-12-01T00:00:00.000",
    "balances": "arn:aws:dynamodb:ap-northeast-1:1:table/{balances}/stream/2026-12-01T00:00:00.000",
}
KEYS: list[Key] = [("slips", "2026-12-01#1"), ("slips", "2026-12-01#2"), ("balances", "2026-12")]

op = st.tuples(
    st.sampled_from(range(len(KEYS))),
    st.one_of(st.none(), st.integers(-3, 3)),  # None deletes, a number puts that amount
    st.integers(1, 4000),  # ms after the previous change
)


def image(user: str, key: Key, amount: int) -> dict[str, Any]:
    return {"user_id": {"S": user}, "sk": {"S": key[1]}, "amount": {"N": str(amount)}}


def simulate(
    user: str, initial: dict[int, int], ops: list[tuple[int, int | None, int]], tables: Any
) -> tuple[dict[Key, Any], list[tuple[int, dict[Key, Any]]], list[dict[str, Any]]]:
    """Return the table before the log, its state after each change, and the stream records."""
    table = {KEYS[i]: image(user, KEYS[i], amount) for i, amount in initial.items()}
    start = dict(table)
    history: list[tuple[int, dict[Key, Any]]] = []
    records = []
    ms = T0
    seq = itertools.count(1000)
    for index, amount, gap in ops:
        ms += gap
        key = KEYS[index]
        old = table.get(key)
        if amount is None:
            if old is None:
                continue  # deleting nothing makes no stream record
            del table[key]
            event, new = "REMOVE", None
        else:
            new = image(user, key, amount)
            table[key] = new
            event = "INSERT" if old is None else "MODIFY"
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": ms / 1000,
            "Keys": {"user_id": {"S": user}, "sk": {"S": key[1]}},
            "SequenceNumber": str(next(seq)),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            body["OldImage"] = old
        if new is not None:
            body["NewImage"] = new
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": event,
                "eventSource": "aws:dynamodb",
                "dynamodb": body,
                "eventSourceARN": STREAMS[key[0]].format(**tables),
            }
        )
        history.append((ms, dict(table)))
    return start, history, records


def at(start: dict[Key, Any], history: list[tuple[int, dict[Key, Any]]], ms: int) -> dict[Key, Any]:
    """Return the table as it was at ``ms``."""
    state = start
    for changed, table in history:
        if changed > ms:
            break
        state = table
    return state


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> list[tuple[int, int]]:
    """Return (start, end) slices of the records as Lambda might deliver them: cut, again, out
    of order."""
    if count == 0:
        return []
    cuts = sorted(draw(st.sets(st.integers(1, max(1, count - 1)), max_size=4)) | {0, count})
    batches = [(a, b) for a, b in itertools.pairwise(cuts) if a < b]
    again = draw(st.lists(st.sampled_from(batches), max_size=3))
    # A retry after a failure part-way: from some record to the end of its batch.
    retried = [(draw(st.integers(a, b - 1)), b) for a, b in again]
    return draw(st.permutations(batches + again + retried))


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    initial=st.dictionaries(st.sampled_from(range(len(KEYS))), st.integers(-3, 3)),
    ops=st.lists(op, max_size=14),
    data=st.data(),
)
def test_restore_to_any_moment_and_rebuild_give_exactly_the_table(
    services: Services,
    initial: dict[int, int],
    ops: list[tuple[int, int | None, int]],
    data: st.DataObject,
) -> None:
    user = str(uuid.uuid4())
    tables = {"slips": services.settings.slips_table, "balances": services.settings.balances_table}
    start, history, records = simulate(user, initial, ops, tables)
    for first, last in data.draw(deliveries(len(records))):
        answer = services.recorder.handle({"Records": records[first:last]})
        assert answer == {"batchItemFailures": []}
    final = history[-1][1] if history else start
    changes = services.changes.changes(user)

    assert len(changes) == len(records)  # each change once, however often it came
    assert behind(final, changes) == []
    moments = {T0 - 1, T0, *(ms + d for ms, _ in history for d in (-1, 0, 1))}
    for moment in sorted(moments):
        assert state_at(final, changes, moment) == at(start, history, moment), moment
    # Forward: a snapshot at any change, plus the log since, is the final table; so is
    # one taken a little later than the log is read from (changes applied twice).
    for index, (ms, snapshot) in enumerate([(T0, start), *history]):
        assert rebuild(snapshot, changes, after_ms=ms) == final
        earlier = history[index - 2][0] if index >= 2 else T0
        assert rebuild(snapshot, changes, after_ms=earlier) == final
        until = history[-1][0] if history else T0
        assert rebuild(snapshot, changes, after_ms=ms, until_ms=until) == final


def test_a_change_still_on_its_way_is_noticed(services: Services) -> None:
    user = str(uuid.uuid4())
    tables = {"slips": services.settings.slips_table, "balances": services.settings.balances_table}
    _, history, records = simulate(user, {}, [(0, 1, 10), (0, 2, 10)], tables)
    services.recorder.handle({"Records": records[:1]})  # the second is not recorded yet

    assert behind(history[-1][1], services.changes.changes(user)) == [KEYS[0]]


def gap(services: Services, table: TableName, first_ms: int, last_ms: int) -> None:
    segment = Segment(first_ms, last_ms, tag_of(first_ms), 1, 2)
    services.changes.put_gap(table, segment, {})


def test_the_window_starts_when_both_logs_are_complete_after_the_last_gap(
    services: Services,
) -> None:
    now = services.now()
    end = utc_ms(now)
    log = services.changes
    assert window(log, now, 30).start_ms is None  # nothing recorded yet

    log.mark_since("slips", end - 50_000, now)
    assert window(log, now, 30).start_ms is None  # balances are not recorded yet
    log.mark_since("balances", end - 40_000, now)
    found = window(log, now, 30)
    assert (found.start_ms, found.end_ms) == (end - 40_000, end)
    assert not found.holds(end - 40_001) and found.holds(end - 40_000) and found.holds(end)

    gap(services, "balances", end - 30_000, end - 20_000)
    found = window(log, now, 30)
    assert found.start_ms == end - 20_000 + 1  # a moment before a gap needs the lost changes
    assert [(g.first_ms, g.last_ms) for g in found.gaps] == [(end - 30_000, end - 20_000)]
    # Nothing older than the log is kept.
    log.mark_since("slips", end - 50_000, now)
    assert window(log, now + timedelta(days=30), 30).start_ms == end

"""What each archive holds, from the job records alone (no app, no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from webapp.jobs.contents import Contents, contents_by_archive
from webapp.jobs.job import Job, State

NOW = datetime(2026, 12, 2, 21, 31, tzinfo=UTC)


def _job(kind: str, state: State = State.DONE, **fields: Any) -> Job:
    return Job(
        user_id="sub", id=f"{kind}-{len(fields)}", kind=kind, state=state, created_at=NOW, **fields
    )


def test_finished_jobs_name_their_archives_formats_and_counts() -> None:
    jobs = [
        _job(
            "export",
            params={"formats": ["csv", "json"], "csv_encoding": "cp932"},
            result={"archive_id": "a1", "counts": {"slips": 3, "balances": 2}},
        ),
        _job("export", params={"formats": ["xlsx"]}, result={"archive_id": "a2", "counts": {}}),
        # A backup names no formats: the engine's default; a restore's undo archive too.
        _job(
            "backup",
            params={"day": "2026-12-02"},
            result={"archive_id": "b1", "counts": {"slips": 9}},
        ),
        _job(
            "restore", result={"undo_archive_id": "u1", "undo_counts": {"slips": 1, "balances": 0}}
        ),
        # Unfinished, failed or archive-less jobs say nothing.
        _job("export", State.RUNNING, params={"formats": ["csv"]}),
        _job("export", State.FAILED, params={"formats": ["csv"]}, result={"archive_id": "x"}),
        _job("preview", result={"etag": "e"}),
    ]

    found = contents_by_archive(jobs)

    assert set(found) == {"a1", "a2", "b1", "u1"}
    assert found["a1"] == Contents(frozenset({"csv", "json"}), "cp932", {"slips": 3, "balances": 2})
    assert (found["a1"].tag, found["a1"].shift_jis, found["a1"].empty) == (
        "csv-sjis+json",
        True,
        False,
    )
    assert (found["a2"].tag, found["a2"].shift_jis, found["a2"].empty) == ("xlsx", False, True)
    assert (found["b1"].tag, found["b1"].counts) == ("csv+json", {"slips": 9})
    assert (found["u1"].tag, found["u1"].counts) == ("csv+json", {"slips": 1, "balances": 0})


@pytest.mark.parametrize(
    ("formats", "encoding", "tag"),
    [
        ({"json", "csv", "xlsx"}, "utf-8-sig", "csv+xlsx+json"),
        ({"xlsx", "json"}, "cp932", "xlsx+json"),  # no CSV: the encoding does not show
        ({"csv"}, "cp932", "csv-sjis"),
    ],
)
def test_tags_name_formats_in_a_fixed_order(formats: set[str], encoding: str, tag: str) -> None:
    assert Contents(frozenset(formats), encoding).tag == tag

"""Archive ids and keys: the one naming scheme every part relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from webapp.archive.ids import ArchiveId, archive_key, parse_key, user_prefix

NOW = datetime(2026, 11, 25, 19, 34, 42, 123456, tzinfo=UTC)


def test_new_id_round_trips_through_its_text() -> None:
    archive_id = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31), now=NOW)
    text = str(archive_id)
    assert text.startswith("20261125T193442Z_20250101_20251231_")
    assert ArchiveId.parse(text) == archive_id
    assert archive_id.created == NOW.replace(microsecond=0)


def test_new_ids_for_the_same_range_and_second_differ() -> None:
    ids = {str(ArchiveId.new(date(2025, 1, 1), date(2025, 1, 31), now=NOW)) for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    "text",
    [
        "",
        "..",
        "20261125T193442Z_20250101_20251231_abcdefabcdef/..",
        "20261125T193442Z_20250101_20251231_ABCDEFABCDEF",
        "20261125T193442Z_20250101_20251231_abcdefabcde",
        "20261325T193442Z_20250101_20251231_abcdefabcdef",
        "20261125T193442Z_20250132_20251231_abcdefabcdef",
        "20261125T193442Z_20250101_20251231_abcdefabcdef\n",
        "２0261125T193442Z_20250101_20251231_abcdefabcdef",
        "x" * 5000,
    ],
)
def test_malformed_ids_are_refused(text: str) -> None:
    assert ArchiveId.parse(text) is None


def test_keys_live_under_the_users_prefix() -> None:
    archive_id = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31), now=NOW)
    key = archive_key("sub-a", archive_id)
    assert key == f"exports/sub-a/{archive_id}.zip"
    assert parse_key(key, "sub-a") == archive_id
    assert parse_key(key, "sub-b") is None
    assert parse_key(f"exports/sub-a/x/{archive_id}.zip", "sub-a") is None


@pytest.mark.parametrize("sub", ["", "a/b"])
def test_user_prefix_refuses_unsafe_subs(sub: str) -> None:
    with pytest.raises(ValueError):
        user_prefix(sub)

"""The accounts, categories and kinds a user's exports have seen: the filter choices.

The web function never reads the account book itself (its role reaches only the
app table), so the choices come from what the worker saw while exporting: each
export and backup adds the values of the items it wrote to one item per user in
the app table (``ADD`` to string sets, so concurrent jobs never lose a value).
A value the account book no longer uses stays offered; choosing it filters out
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import VOCABULARY_SK, Key, UserItems, vocabulary_key
from ..archive.filters import FIELDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)


class VocabularyStore:
    """One item per user in the app table: the values seen per filter field."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def add(self, user_id: str, seen: Mapping[str, Set[str]]) -> None:
        """Add the values an export saw; best effort (the export itself has succeeded)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        for index, field in enumerate(FIELDS):
            found = sorted(seen.get(field, ()))
            if found:  # a string set cannot be empty
                names[f"#v{index}"] = field
                values[f":v{index}"] = {"SS": found}
        if not values:
            return
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                UpdateExpression="ADD " + ", ".join(f"{n} {n.replace('#', ':')}" for n in names),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not record the filter choices of %s", user_id, exc_info=True)

    def get(self, user_id: str) -> dict[str, list[str]]:
        """Return the values seen per field, sorted; empty lists if none (or unreadable)."""
        try:
            item = (
                self.dynamodb.get_item(TableName=self.table, Key=self._key(user_id)).get("Item")
                or {}
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not read the filter choices of %s", user_id, exc_info=True)
            item = {}
        return _seen(item)

    @staticmethod
    def seen_in(items: UserItems) -> dict[str, list[str]]:
        """Return the values seen per field from the user's partition, read as a whole."""
        return _seen(items.get(VOCABULARY_SK) or {})

    @staticmethod
    def _key(user_id: str) -> Key:
        return vocabulary_key(user_id)


def _seen(item: Mapping[str, Any]) -> dict[str, list[str]]:
    return {field: sorted(item.get(field, {}).get("SS", [])) for field in FIELDS}

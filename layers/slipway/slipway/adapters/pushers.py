"""Who pushed each image (StateTable ``PUSHER#<repository>@<digest>``), learned from CloudTrail's ``PutImage``.

Every principal that put the digest is kept (a set: a retag by someone else adds them), for 35 days (TTL), so an
approval, or a retry days later, can still tell who pushed. The approval gate maps principals to Slack users
(``people.yaml``, ``slipway.models.config.People``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from slipway.adapters import keys
from slipway.adapters.dynamo import from_item, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PUSHER_TTL = timedelta(days=35)


class PusherStore:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    def record(self, repository: str, digest: str, principal: str) -> None:
        """Add ``principal`` to the image's pushers (idempotent: a redelivered event adds nothing)."""
        now = self._clock()
        self._db.update_item(
            TableName=self._table,
            Key=keys.pusher_key(repository, digest),
            UpdateExpression="ADD principals :p SET repository = :r, digest = :d, last_at = :t, expires_at = :e",
            ExpressionAttributeValues={
                ":p": {"SS": [principal]},
                ":r": {"S": repository},
                ":d": {"S": digest},
                ":t": {"S": now.isoformat()},
                ":e": {"N": str(int((now + PUSHER_TTL).timestamp()))},
            },
        )

    def principals(self, repository: str, digest: str) -> list[str]:
        """Every principal CloudTrail saw putting the image, sorted; empty when none was recorded (yet)."""
        item = self._db.get_item(
            TableName=self._table, Key=keys.pusher_key(repository, digest), ConsistentRead=True
        ).get("Item")
        return sorted(str(p) for p in from_item(item).get("principals") or []) if item else []

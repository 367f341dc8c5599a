"""The release flow's items in the StateTable: environment locks, the newest release, plans, deployment tokens.

Keys (pk / sk), all owned by the release flow:
- ``LOCK#<pipeline>#<env>`` / ``LOCK``        holder (release id), phase, acquired_at, expires_at (TTL)
- ``LATEST#<pipeline>`` / ``LATEST``          newest release of the pipeline (supersede policy), order key
- ``PLAN#<release_id>`` / ``<env>``           plan_hash, task_definition_arn, at (+ deployment_id once started)
- ``DEPLOYMENT#<deployment_id>`` / ``TOKEN``  the Deploy task's token, release, environment(s), plan

Every lock write is a conditional write: two releases can never both believe they hold the same environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from slipway.adapters.audit import from_item, to_item, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TOKEN_TTL = timedelta(days=2)


def lock_key(pipeline: str, environment: str) -> dict[str, Any]:
    return {"pk": {"S": f"LOCK#{pipeline}#{environment}"}, "sk": {"S": "LOCK"}}


class StateStore:
    """DynamoDB access for locks, LATEST, PLAN and DEPLOYMENT items (``SLIPWAY_STATE_TABLE``)."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    # ------------------------------------------------------------------ locks
    def lock(self, pipeline: str, environment: str) -> dict[str, Any] | None:
        return self._get(f"LOCK#{pipeline}#{environment}", "LOCK")

    def acquire_lock(
        self,
        pipeline: str,
        environment: str,
        release_id: str,
        *,
        phase: str,
        ttl: timedelta,
        replace_holder: str | None = None,
    ) -> bool:
        """Take the lock if it is free, expired, already ours, or (``replace_holder``) still held by that release.

        Returns False when someone else holds it; never raises for a busy lock.
        """
        now = self.now()
        item = to_item(
            {
                "pk": f"LOCK#{pipeline}#{environment}",
                "sk": "LOCK",
                "holder": release_id,
                "phase": phase,
                "acquired_at": now.isoformat(),
                "expires_at": int((now + ttl).timestamp()),
            }
        )
        condition = "attribute_not_exists(pk) OR holder = :me OR expires_at < :now"
        values: dict[str, Any] = {":me": {"S": release_id}, ":now": {"N": str(int(now.timestamp()))}}
        if replace_holder is not None:
            condition += " OR holder = :old"
            values[":old"] = {"S": replace_holder}
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def set_lock_phase(self, pipeline: str, environment: str, release_id: str, phase: str) -> bool:
        """Record what the holder is doing (awaiting_approval, deploying); False when we no longer hold it."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=lock_key(pipeline, environment),
                UpdateExpression="SET phase = :p",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":p": {"S": phase}, ":me": {"S": release_id}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_lock(self, pipeline: str, environment: str, release_id: str) -> bool:
        """Delete the lock only if this release still holds it; True when it did."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=lock_key(pipeline, environment),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": release_id}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # ------------------------------------------------------------------ newest release (supersede)
    def record_latest(self, pipeline: str, release_id: str, order_key: str) -> str:
        """Make this release the pipeline's newest unless a newer one is recorded; returns the newest id."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"LATEST#{pipeline}",
                        "sk": "LATEST",
                        "release_id": release_id,
                        "order_key": order_key,
                        "at": self.now().isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR release_id = :me OR order_key < :k",
                ExpressionAttributeValues={":me": {"S": release_id}, ":k": {"S": order_key}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            latest = self._get(f"LATEST#{pipeline}", "LATEST")
            return str(latest["release_id"]) if latest else release_id
        return release_id

    def latest(self, pipeline: str) -> dict[str, Any] | None:
        return self._get(f"LATEST#{pipeline}", "LATEST")

    # ------------------------------------------------------------------ plans
    def put_plan(self, release_id: str, environment: str, plan_hash: str, task_definition_arn: str) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"PLAN#{release_id}",
                    "sk": environment,
                    "plan_hash": plan_hash,
                    "task_definition_arn": task_definition_arn,
                    "at": self.now().isoformat(),
                }
            ),
        )

    def plan(self, release_id: str, environment: str) -> dict[str, Any] | None:
        return self._get(f"PLAN#{release_id}", environment)

    def set_plan_deployment(self, release_id: str, environment: str, deployment_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"PLAN#{release_id}"}, "sk": {"S": environment}},
            UpdateExpression="SET deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": deployment_id}},
        )

    # ------------------------------------------------------------------ deployment tokens
    def put_deployment_token(
        self,
        deployment_id: str,
        *,
        task_token: str,
        release: dict[str, Any],
        environment: str,
        environments: list[str],
        plan: dict[str, Any],
    ) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"DEPLOYMENT#{deployment_id}",
                    "sk": "TOKEN",
                    "task_token": task_token,
                    "release_id": release["release_id"],
                    # JSON text: the release and plan round-trip exactly (no Decimal, no empty-string quirks).
                    "release": json.dumps(release),
                    "environment": environment,
                    "environments": environments,
                    "plan": json.dumps(plan),
                    "created_at": self.now().isoformat(),
                    "expires_at": int((self.now() + TOKEN_TTL).timestamp()),
                }
            ),
        )

    def deployment_token(self, deployment_id: str) -> dict[str, Any] | None:
        """The stored item with ``release`` and ``plan`` decoded back to dicts; None for an unknown deployment."""
        item = self._get(f"DEPLOYMENT#{deployment_id}", "TOKEN")
        if item is None:
            return None
        item["release"] = json.loads(item["release"])
        item["plan"] = json.loads(item["plan"])
        item.setdefault("environments", [])
        return item

    def mark_deployment_completed(self, deployment_id: str, status: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "TOKEN"}},
            UpdateExpression="SET completed_status = :s, completed_at = :t",
            ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": datetime.now(UTC).isoformat()}},
        )

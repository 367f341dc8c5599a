"""The release flow's StateTable items: environment locks, the newest release, plans, deployment tokens.

Keys are in ``slipway.adapters.keys``; readers get typed records (``slipway.models.records``). Every lock write
is a conditional write: two releases can never both believe they hold the same environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slipway.adapters import keys
from slipway.adapters.dynamo import from_item, known_fields, to_item, utcnow
from slipway.models.records import DeploymentToken, LockRecord, PlanRecord
from slipway.models.release import Plan, Release

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TOKEN_TTL = timedelta(days=2)


class StateStore:
    """DynamoDB access for locks, LATEST, PLAN and DEPLOYMENT items (``SLIPWAY_STATE_TABLE``)."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    # ------------------------------------------------------------------ locks
    def lock(self, pipeline: str, environment: str) -> LockRecord | None:
        item = self._get(keys.lock_key(pipeline, environment))
        if item is None:
            return None
        return LockRecord(pipeline=pipeline, environment=environment, **known_fields(LockRecord, item))

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
                "pk": keys.lock_pk(pipeline, environment),
                "sk": keys.LOCK_SK,
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
                TableName=self._table, Item=item, ConditionExpression=condition, ExpressionAttributeValues=values
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def set_lock_phase(self, pipeline: str, environment: str, release_id: str, phase: str) -> bool:
        """Record what the holder is doing (awaiting_approval, deploying); False when we no longer hold it."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=keys.lock_key(pipeline, environment),
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
                Key=keys.lock_key(pipeline, environment),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": release_id}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # ------------------------------------------------------------------ newest release (supersede)
    def record_latest(self, pipeline: str, release_id: str, order_key: str, *, replace: str | None = None) -> str:
        """Make this release the pipeline's newest unless a newer one is recorded; returns the newest id.

        ``replace``: also when the release recorded is still ``replace`` (a newer release that is no longer live).
        """
        condition = "attribute_not_exists(pk) OR release_id = :me OR order_key < :k"
        values = {":me": {"S": release_id}, ":k": {"S": order_key}}
        if replace is not None:
            condition += " OR release_id = :old"
            values[":old"] = {"S": replace}
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": keys.latest_pk(pipeline),
                        "sk": keys.LATEST_SK,
                        "release_id": release_id,
                        "order_key": order_key,
                        "at": self.now().isoformat(),
                    }
                ),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            latest = self._get(keys.latest_key(pipeline))
            return str(latest["release_id"]) if latest else release_id
        return release_id

    # ------------------------------------------------------------------ plans
    def put_plan(self, release_id: str, environment: str, plan_hash: str, task_definition_arn: str) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": keys.plan_pk(release_id),
                    "sk": environment,
                    "plan_hash": plan_hash,
                    "task_definition_arn": task_definition_arn,
                    "at": self.now().isoformat(),
                }
            ),
        )

    def plan(self, release_id: str, environment: str) -> PlanRecord | None:
        item = self._get(keys.plan_key(release_id, environment))
        if item is None:
            return None
        return PlanRecord(release_id=release_id, environment=environment, **known_fields(PlanRecord, item))

    def mark_deploy_started(self, release_id: str, environment: str) -> None:
        """Just before CreateDeployment: a retry that finds no deployment id looks for the deployment it may have
        created (``Deployer.find``) instead of creating a second one."""
        self._db.update_item(
            TableName=self._table,
            Key=keys.plan_key(release_id, environment),
            UpdateExpression="SET deploy_started_at = if_not_exists(deploy_started_at, :t)",
            ExpressionAttributeValues={":t": {"S": self.now().isoformat()}},
        )

    def set_plan_deployment(self, release_id: str, environment: str, deployment_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=keys.plan_key(release_id, environment),
            UpdateExpression="SET deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": deployment_id}},
        )

    # ------------------------------------------------------------------ deployment tokens
    def put_deployment_token(
        self,
        deployment_id: str,
        *,
        task_token: str,
        release: Release,
        environment: str,
        environments: list[str],
        plan: Plan,
    ) -> None:
        now = self.now()
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": keys.deployment_pk(deployment_id),
                    "sk": keys.DEPLOYMENT_SK,
                    "task_token": task_token,
                    "release_id": release.release_id,
                    # JSON text: the release and plan round-trip exactly (no Decimal, no empty-string quirks).
                    "release": release.model_dump_json(),
                    "environment": environment,
                    "environments": environments,
                    "plan": plan.model_dump_json(),
                    "created_at": now.isoformat(),
                    "expires_at": int((now + TOKEN_TTL).timestamp()),
                }
            ),
        )

    def deployment_token(self, deployment_id: str) -> DeploymentToken | None:
        """The waiting Deploy task of a deployment slipway started; None for any other deployment."""
        item = self._get(keys.deployment_key(deployment_id))
        if item is None:
            return None
        return DeploymentToken(
            deployment_id=deployment_id,
            task_token=str(item["task_token"]),
            release=Release.model_validate(json.loads(item["release"])),
            environment=str(item["environment"]),
            environments=[str(e) for e in item.get("environments") or []],
            plan=Plan.model_validate(json.loads(item["plan"])),
            created_at=str(item.get("created_at", "")),
            completed_status=item.get("completed_status"),
            completed_at=item.get("completed_at"),
            recorded_at=item.get("recorded_at"),
        )

    def claim_completion(self, deployment_id: str, status: str) -> bool:
        """The one conditional claim on a deployment's outcome: True for the first caller (an event, a redelivery,
        the timeout check), False for every other; the claimed status wins."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=keys.deployment_key(deployment_id),
                UpdateExpression="SET completed_status = :s, completed_at = :t",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(completed_status)",
                ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": self.now().isoformat()}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_recorded(self, deployment_id: str) -> None:
        """Everything the outcome needs is done (audit rows, lock, task token): later deliveries are duplicates."""
        self._db.update_item(
            TableName=self._table,
            Key=keys.deployment_key(deployment_id),
            UpdateExpression="SET recorded_at = if_not_exists(recorded_at, :t)",
            ExpressionAttributeValues={":t": {"S": self.now().isoformat()}},
        )

"""The audit trail: one DynamoDB table (AuditTable), written as things happen, never deleted by slipway.

Access patterns (keys):
- a release and everything that happened to it:   pk=RELEASE#<release_id>
    sk=META                                    the release (input, status, started/finished times, cause)
    sk=ENV#<env>                               the environment's outcome (plan hash, revision, deployment, status)
    sk=EVENT#<iso time>#<seq>                  one entry per thing that happened (plan, approval decision, ...)
- a pipeline's releases, newest first:            gsi1pk=PIPELINE#<pipeline>, gsi1sk=<started iso>#<release_id>
- an environment's verified-good revisions:       pk=GOOD#<pipeline>#<env>, sk=<finished iso>#<release_id>
  (promotion checks and `slipway rollback` read these; slipway never deregisters a revision listed here)
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from slipway.models.release import Release

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_sequence = itertools.count()


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON-able dict -> DynamoDB item (floats go through JSON so Decimal never leaks out)."""
    clean = json.loads(json.dumps(data, default=str), parse_float=str)
    return {k: _serializer.serialize(v) for k, v in clean.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        plain = _deserializer.deserialize(value)
        out[key] = _plain(plain)
    return out


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


class AuditLog:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    def _now(self) -> str:
        return self._clock().isoformat()

    # ------------------------------------------------------------------ writes
    def release_started(self, release: Release, environments: list[str]) -> None:
        """Written once, by the intake that started the execution (idempotent on redelivery)."""
        now = self._now()
        item = to_item(
            {
                "pk": f"RELEASE#{release.release_id}",
                "sk": "META",
                "gsi1pk": f"PIPELINE#{release.pipeline}",
                "gsi1sk": f"{now}#{release.release_id}",
                "release_id": release.release_id,
                "pipeline": release.pipeline,
                "status": "RUNNING",
                "started_at": now,
                "environments": environments,
                "release": release.model_dump(mode="json", exclude={"artifacts"}),
            }
        )
        # A redelivered event finds the first record and leaves it as it is.
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def event(self, release_id: str, kind: str, environment: str | None = None, **data: Any) -> None:
        """Append one thing that happened (plan, approval_requested, approval_decision, deployment_started, ...)."""
        now = self._now()
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"RELEASE#{release_id}",
                    "sk": f"EVENT#{now}#{next(_sequence):08d}",
                    "kind": kind,
                    "environment": environment,
                    "at": now,
                    "data": data,
                }
            ),
        )

    def environment_finished(
        self,
        release: Release,
        environment: str,
        status: str,
        *,
        plan_hash: str | None = None,
        task_definition_arn: str | None = None,
        deployment_id: str | None = None,
        cause: str | None = None,
    ) -> None:
        """The outcome of one environment; SUCCEEDED also lists the revision as verified-good."""
        now = self._now()
        record = {
            "release_id": release.release_id,
            "pipeline": release.pipeline,
            "environment": environment,
            "digest": release.digest,
            "status": status,
            "plan_hash": plan_hash,
            "task_definition_arn": task_definition_arn,
            "deployment_id": deployment_id,
            "cause": cause,
            "finished_at": now,
        }
        self._db.put_item(
            TableName=self._table,
            Item=to_item({"pk": f"RELEASE#{release.release_id}", "sk": f"ENV#{environment}", **record}),
        )
        if status == "SUCCEEDED":
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"GOOD#{release.pipeline}#{environment}",
                        "sk": f"{now}#{release.release_id}",
                        **record,
                    }
                ),
            )

    def release_finished(self, release_id: str, status: str, cause: str | None = None) -> None:
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": {"S": status}, ":f": {"S": self._now()}}
        expression = "SET #s = :s, finished_at = :f"
        if cause:
            expression += ", cause = :c"
            values[":c"] = {"S": cause}
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "META"}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def set_release_fields(self, release_id: str, **fields: Any) -> None:
        """Attach facts learned later (the Slack thread ts, all tags, the commit from an OCI label)."""
        if not fields:
            return
        item = to_item(fields)
        names = {f"#k{i}": key for i, key in enumerate(item)}
        values = {f":v{i}": value for i, value in enumerate(item.values())}
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "META"}},
            UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(item))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # ------------------------------------------------------------------ reads
    def release(self, release_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "META"}},
            ConsistentRead=True,
        ).get("Item")
        return from_item(item) if item else None

    def release_items(self, release_id: str) -> list[dict[str, Any]]:
        """META, ENV# and EVENT# items of one release, in key order."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"RELEASE#{release_id}"}},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def environment_result(self, release_id: str, environment: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": f"ENV#{environment}"}},
            ConsistentRead=True,
        ).get("Item")
        return from_item(item) if item else None

    def verified_good(self, pipeline: str, environment: str, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first."""
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"GOOD#{pipeline}#{environment}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [from_item(i) for i in page.get("Items", [])]

    def releases(self, pipeline: str, limit: int = 50) -> list[dict[str, Any]]:
        """A pipeline's releases, newest first."""
        page = self._db.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": f"PIPELINE#{pipeline}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [from_item(i) for i in page.get("Items", [])]

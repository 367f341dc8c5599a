"""The audit trail: one DynamoDB table (AuditTable), written as things happen, never deleted by slipway.

Access patterns (keys):
- a release and everything that happened to it:   pk=RELEASE#<release_id>
    sk=META                                    the release (input, status, started/finished times, cause,
                                               slack_thread_ts / slack_channel, committed_at when known)
    sk=ENV#<env>                               the environment's outcome (plan hash, revision, deployment, status)
    sk=EVENT#<iso time>#<seq>                  one entry per thing that happened (see EventKind)
    sk=INFLIGHT                                a marker that sits in gsi1 under INFLIGHT while the release runs;
                                               release_finished removes its gsi1 keys (the item stays)
- a pipeline's releases, newest first:            gsi1pk=PIPELINE#<pipeline>, gsi1sk=<started iso>#<release_id>
  (DORA reads a window: gsi1sk >= <since iso>)
- releases in flight, oldest first (`slipway status`): gsi1pk=INFLIGHT, gsi1sk=<started iso>#<release_id>
  (sparse: only running releases have these keys)
- an environment's verified-good revisions:       pk=GOOD#<pipeline>#<env>, sk=<finished iso>#<release_id>
  (promotion checks and `slipway rollback` read these; slipway never deregisters a revision listed here)

Times are ISO 8601 UTC strings, so key order is time order.
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

INFLIGHT = "INFLIGHT"


class EventKind:
    """The ``kind`` of EVENT# items. Writers use these; `slipway status` / `history` read them.

    Data each kind carries (keyword arguments of ``AuditLog.event``; status/history show what is present):
    - PLAN: plan_hash, task_definition_arn, reused_revision, diff
    - APPROVAL_REQUESTED: approval_id, channel, message_ts, expires, required, plan_hash (approvers: ids, optional)
    - APPROVAL_DECISION: approval_id, user, decision, at, complete, problem (team, plan_hash when known)
    - DEPLOYMENT_STARTED: deployment_id, task_definition_arn, application, deployment_group
    - LOCK_WAITING: holder (the release holding the environment lock)
    - RELEASE_FINISHED: status, cause
    - NOTICE: text (a Slack notice that could not be delivered)
    """

    RELEASE_STARTED = "release_started"
    LOCK_WAITING = "lock_waiting"
    PLAN = "plan"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECISION = "approval_decision"
    APPROVAL_VOIDED = "approval_voided"
    DEPLOYMENT_STARTED = "deployment_started"
    DEPLOYMENT_FINISHED = "deployment_finished"
    SUPERSEDED_RELEASE = "superseded_release"
    RELEASE_FINISHED = "release_finished"
    NOTICE = "notice"


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
        marker = to_item(
            {
                "pk": f"RELEASE#{release.release_id}",
                "sk": INFLIGHT,
                "gsi1pk": INFLIGHT,
                "gsi1sk": f"{now}#{release.release_id}",
                "release_id": release.release_id,
                "pipeline": release.pipeline,
                "started_at": now,
            }
        )
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.put_item(TableName=self._table, Item=marker, ConditionExpression="attribute_not_exists(pk)")

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
        # Out of the in-flight index; the marker item itself stays (slipway deletes nothing from this table).
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": INFLIGHT}},
                UpdateExpression="REMOVE gsi1pk, gsi1sk SET finished_at = :f",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":f": values[":f"]},
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

    def releases(self, pipeline: str, limit: int = 50, *, since: str | None = None) -> list[dict[str, Any]]:
        """A pipeline's releases (META items), newest first; ``since`` (ISO time) keeps those started after it."""
        condition = "gsi1pk = :p"
        values: dict[str, Any] = {":p": {"S": f"PIPELINE#{pipeline}"}}
        if since:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": since}
        return self._query_index(condition, values, limit=limit, newest_first=True)

    def in_flight(self, limit: int = 100) -> list[dict[str, Any]]:
        """Releases still running (any pipeline), oldest first: their META items plus ``last_event``.

        ``last_event`` is the newest EVENT# item (what the release is doing or waiting for), or None.
        """
        markers = self._query_index("gsi1pk = :p", {":p": {"S": INFLIGHT}}, limit=limit, newest_first=False)
        out: list[dict[str, Any]] = []
        for marker in markers:
            meta = self.release(str(marker["release_id"]))
            if meta is None or meta.get("status") != "RUNNING":
                continue  # finished between the two reads, or a marker without its release
            meta["last_event"] = self.last_event(str(marker["release_id"]))
            out.append(meta)
        return out

    def last_event(self, release_id: str) -> dict[str, Any] | None:
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues={":pk": {"S": f"RELEASE#{release_id}"}, ":e": {"S": "EVENT#"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return from_item(items[0]) if items else None

    def release_events(self, release_id: str) -> list[dict[str, Any]]:
        """Every EVENT# item of one release, oldest first."""
        return [i for i in self.release_items(release_id) if str(i.get("sk", "")).startswith("EVENT#")]

    def environment_results(self, release_id: str) -> dict[str, dict[str, Any]]:
        """Environment name -> its ENV# outcome, for the environments that finished."""
        items = self._query_all(
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                "ExpressionAttributeValues": {":pk": {"S": f"RELEASE#{release_id}"}, ":e": {"S": "ENV#"}},
                "ConsistentRead": True,
            }
        )
        return {str(i["environment"]): i for i in items}

    def release_detail(self, release_id: str) -> dict[str, Any] | None:
        """One release as `slipway history --release` shows it: META + ``results`` (by env) + ``events``."""
        items = self.release_items(release_id)
        meta = next((i for i in items if i.get("sk") == "META"), None)
        if meta is None:
            return None
        meta["results"] = {str(i["environment"]): i for i in items if str(i.get("sk", "")).startswith("ENV#")}
        meta["events"] = [i for i in items if str(i.get("sk", "")).startswith("EVENT#")]
        return meta

    # ------------------------------------------------------------------ helpers
    def _query_index(
        self, condition: str, values: dict[str, Any], *, limit: int, newest_first: bool
    ) -> list[dict[str, Any]]:
        return self._query_all(
            {
                "TableName": self._table,
                "IndexName": "gsi1",
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ScanIndexForward": not newest_first,
            },
            limit=limit,
        )

    def _query_all(self, kwargs: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(items)
            page = self._db.query(**kwargs)
            items.extend(from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

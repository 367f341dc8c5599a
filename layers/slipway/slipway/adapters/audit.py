"""The audit trail (AuditTable): written as things happen, append-only, read back as typed records.

Keys and access patterns are in ``slipway.adapters.keys``. slipway never deletes or scans this table: a release
leaves the in-flight index by losing its gsi1 keys, not by a delete.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slipway.adapters import keys
from slipway.adapters.dynamo import from_item, known_fields, to_item, utcnow
from slipway.models.records import AuditEvent, AuditKind, EnvironmentResult, ReleaseHistory, ReleaseRecord
from slipway.models.release import Release

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_sequence = itertools.count()


def release_record(item: dict[str, Any]) -> ReleaseRecord:
    fields = known_fields(ReleaseRecord, item)
    fields["release"] = Release.model_validate(item["release"])
    fields["environments"] = [str(e) for e in item.get("environments") or []]
    fields["tags"] = [str(t) for t in item.get("tags") or []]
    for name in ("pusher_principals", "pushed_by_users"):
        fields[name] = [str(v) for v in item.get(name) or []]
    return ReleaseRecord(**fields)


def environment_result(item: dict[str, Any]) -> EnvironmentResult:
    return EnvironmentResult(**known_fields(EnvironmentResult, item))


def audit_event(item: dict[str, Any]) -> AuditEvent | None:
    """None for an event of a kind this version does not know (written by an older or newer slipway)."""
    try:
        kind = AuditKind(str(item.get("kind")))
    except ValueError:
        return None
    return AuditEvent(
        release_id=keys.release_id_of(str(item["pk"])),
        kind=kind,
        at=str(item.get("at", "")),
        environment=item.get("environment"),
        data=dict(item.get("data") or {}),
    )


class AuditLog:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    def _now(self) -> str:
        return self._clock().isoformat()

    # ------------------------------------------------------------------ writes
    def release_started(self, release: Release, environments: list[str]) -> None:
        """Written once, by the intake that started the execution (a redelivery leaves the first record as is)."""
        now = self._now()
        meta = {
            "pk": keys.release_pk(release.release_id),
            "sk": keys.META,
            "gsi1pk": keys.pipeline_gsi_pk(release.pipeline),
            "gsi1sk": keys.started_gsi_sk(now, release.release_id),
            "release_id": release.release_id,
            "pipeline": release.pipeline,
            "status": "RUNNING",
            "started_at": now,
            "environments": environments,
            "release": release.model_dump(mode="json", exclude={"artifacts"}),
        }
        marker = {
            "pk": keys.release_pk(release.release_id),
            "sk": keys.INFLIGHT,
            "gsi1pk": keys.INFLIGHT,
            "gsi1sk": keys.started_gsi_sk(now, release.release_id),
            "release_id": release.release_id,
            "pipeline": release.pipeline,
            "started_at": now,
        }
        for item in (meta, marker):
            with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
                self._db.put_item(
                    TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )

    def event(self, release_id: str, kind: AuditKind, environment: str | None = None, **data: Any) -> None:
        """Append one thing that happened."""
        now = self._now()
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": keys.release_pk(release_id),
                    "sk": keys.event_sk(now, next(_sequence)),
                    "kind": AuditKind(kind).value,
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
    ) -> EnvironmentResult:
        """The outcome of one environment; SUCCEEDED also lists the revision as verified-good.

        Written once per (deployment, status): a second delivery of the same outcome keeps the first row and adds no
        second verified-good row (a conditional put).
        """
        result = EnvironmentResult(
            release_id=release.release_id,
            pipeline=release.pipeline,
            environment=environment,
            digest=release.digest,
            status=status,
            finished_at=self._now(),
            plan_hash=plan_hash,
            task_definition_arn=task_definition_arn,
            deployment_id=deployment_id,
            cause=cause,
        )
        record = dict(result.__dict__)
        item = to_item({"pk": keys.release_pk(release.release_id), "sk": keys.environment_sk(environment), **record})
        if deployment_id is None:
            self._db.put_item(TableName=self._table, Item=item)
        else:
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR deployment_id <> :d OR #s <> :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":d": {"S": deployment_id}, ":s": {"S": status}},
                )
            except self._db.exceptions.ConditionalCheckFailedException:
                recorded = self.environment_result(release.release_id, environment)
                return recorded or result
        if status == "SUCCEEDED":
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": keys.good_pk(release.pipeline, environment),
                        "sk": keys.good_sk(result.finished_at, release.release_id),
                        **record,
                    }
                ),
            )
        return result

    def release_finished(self, release_id: str, status: str, cause: str | None = None) -> None:
        values: dict[str, Any] = {":s": {"S": status}, ":f": {"S": self._now()}}
        expression = "SET #s = :s, finished_at = :f"
        if cause:
            expression += ", cause = :c"
            values[":c"] = {"S": cause}
        self._db.update_item(
            TableName=self._table,
            Key=keys.release_key(release_id),
            UpdateExpression=expression,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
        # Out of the in-flight index; the marker item itself stays (slipway deletes nothing from this table).
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self._table,
                Key=keys.inflight_key(release_id),
                UpdateExpression="REMOVE gsi1pk, gsi1sk SET finished_at = :f",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":f": values[":f"]},
            )

    def set_release_fields(self, release_id: str, **fields: Any) -> None:
        """Attach facts learned later (the Slack thread ts, all tags, the commit from an OCI label)."""
        unknown = sorted(set(fields) - set(ReleaseRecord.__dataclass_fields__))
        if unknown:
            raise ValueError(f"not ReleaseRecord fields: {', '.join(unknown)}")
        item = to_item(fields)
        if not item:
            return
        names = {f"#k{i}": key for i, key in enumerate(item)}
        values = {f":v{i}": value for i, value in enumerate(item.values())}
        self._db.update_item(
            TableName=self._table,
            Key=keys.release_key(release_id),
            UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(item))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # ------------------------------------------------------------------ reads
    def release(self, release_id: str) -> ReleaseRecord | None:
        item = self._db.get_item(TableName=self._table, Key=keys.release_key(release_id), ConsistentRead=True).get(
            "Item"
        )
        return release_record(from_item(item)) if item else None

    def environment_result(self, release_id: str, environment: str) -> EnvironmentResult | None:
        item = self._db.get_item(
            TableName=self._table, Key=keys.environment_key(release_id, environment), ConsistentRead=True
        ).get("Item")
        return environment_result(from_item(item)) if item else None

    def history(self, release_id: str) -> ReleaseHistory | None:
        """One release with its environment results and events (oldest first)."""
        items = self._query_all(
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": keys.release_pk(release_id)}},
                "ConsistentRead": True,
            }
        )
        meta = next((i for i in items if i.get("sk") == keys.META), None)
        if meta is None:
            return None
        results = {
            str(i["environment"]): environment_result(i)
            for i in items
            if str(i.get("sk", "")).startswith(keys.ENV_PREFIX)
        }
        events = [audit_event(i) for i in items if str(i.get("sk", "")).startswith(keys.EVENT_PREFIX)]
        return ReleaseHistory(release_record(meta), results, [e for e in events if e is not None])

    def events(self, release_id: str) -> list[AuditEvent]:
        """Every event of one release, oldest first."""
        items = self._query_all(
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                "ExpressionAttributeValues": {
                    ":pk": {"S": keys.release_pk(release_id)},
                    ":e": {"S": keys.EVENT_PREFIX},
                },
                "ConsistentRead": True,
            }
        )
        return [e for e in map(audit_event, items) if e is not None]

    def last_event(self, release_id: str) -> AuditEvent | None:
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues={":pk": {"S": keys.release_pk(release_id)}, ":e": {"S": keys.EVENT_PREFIX}},
            ScanIndexForward=False,
            Limit=5,
            ConsistentRead=True,
        )
        for item in page.get("Items", []):
            event = audit_event(from_item(item))
            if event is not None:
                return event
        return None

    def environment_results(self, release_id: str) -> dict[str, EnvironmentResult]:
        """Environment name -> its outcome, for the environments that finished."""
        items = self._query_all(
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                "ExpressionAttributeValues": {
                    ":pk": {"S": keys.release_pk(release_id)},
                    ":e": {"S": keys.ENV_PREFIX},
                },
                "ConsistentRead": True,
            }
        )
        return {str(i["environment"]): environment_result(i) for i in items}

    def verified_good(self, pipeline: str, environment: str, limit: int = 20) -> list[EnvironmentResult]:
        """The environment's successful results, newest first."""
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.good_pk(pipeline, environment)}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [environment_result(from_item(i)) for i in page.get("Items", [])]

    def releases(self, pipeline: str, limit: int = 50, *, since: str | None = None) -> list[ReleaseRecord]:
        """A pipeline's releases, newest first; ``since`` (ISO time) keeps those started after it."""
        condition = "gsi1pk = :p"
        values: dict[str, Any] = {":p": {"S": keys.pipeline_gsi_pk(pipeline)}}
        if since:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": since}
        return [release_record(i) for i in self._query_index(condition, values, limit=limit, newest_first=True)]

    def histories(self, pipeline: str, limit: int = 50, *, since: str | None = None) -> list[ReleaseHistory]:
        """A pipeline's releases with their environment results and events, newest first (history, DORA):
        one query per release."""
        found = (self.history(record.release_id) for record in self.releases(pipeline, limit, since=since))
        return [h for h in found if h is not None]

    def in_flight(self, limit: int = 100) -> list[tuple[ReleaseRecord, AuditEvent | None]]:
        """Releases still running (any pipeline), oldest first, each with its newest event (what it waits for)."""
        markers = self._query_index("gsi1pk = :p", {":p": {"S": keys.INFLIGHT}}, limit=limit, newest_first=False)
        out: list[tuple[ReleaseRecord, AuditEvent | None]] = []
        for marker in markers:
            record = self.release(str(marker["release_id"]))
            if record is None or not record.running:
                continue  # finished between the two reads, or a marker without its release
            out.append((record, self.last_event(record.release_id)))
        return out

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

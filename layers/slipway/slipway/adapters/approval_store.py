"""Approval records in the StateTable (``ApprovalRecord``), written by conditional writes only.

Every decision is ONE conditional write: an UpdateItem whose ConditionExpression requires the record to be
pending, unexpired, not yet approved by this user and unchanged since it was read (approval count), and, for a
release, a ConditionCheck in the same transaction that the release's plan hash is still the approved one. Two
clicks can never both count, and a status becomes APPROVED in the same write that adds the last approver.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from slipway.adapters import keys
from slipway.adapters.dynamo import from_item, is_conflict, known_fields, to_item, to_value
from slipway.errors import ApprovalExists, DecisionConflict
from slipway.models.records import ApprovalRecord, ApprovalStatus, CodePipelineAction, Decision, DeploymentHook

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateTypeDef


def approval_item(record: ApprovalRecord) -> dict[str, Any]:
    return to_item({"pk": keys.approval_pk(record.approval_id), "sk": keys.APPROVAL_SK, **dataclasses.asdict(record)})


def decision_value(decision: Decision) -> dict[str, Any]:
    """One entry of a record's ``decisions``, None fields left out (its environment is the record's own)."""
    return to_value({k: v for k, v in dataclasses.asdict(decision).items() if v is not None})


def approval_record(item: dict[str, Any]) -> ApprovalRecord:
    fields = known_fields(ApprovalRecord, item)
    fields["decisions"] = [Decision(**d) for d in fields.get("decisions") or []]
    fields["approved_by"] = [str(u) for u in fields.get("approved_by") or []]
    fields["pushers"] = [str(u) for u in fields.get("pushers") or []]
    if fields.get("codepipeline"):
        fields["codepipeline"] = CodePipelineAction(**fields["codepipeline"])
    if fields.get("deployment_hook"):
        fields["deployment_hook"] = DeploymentHook(**fields["deployment_hook"])
    return ApprovalRecord(**fields)


class ApprovalStore:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # ------------------------------------------------------------------ records
    def create(self, record: ApprovalRecord) -> str | None:
        """Store a new record; for a release, point RELEASEAPPROVAL at it. Returns the approval id it replaced.

        Raises ApprovalExists when a record with this approval id is already stored (conditional put).
        """
        try:
            self._db.put_item(
                TableName=self._table, Item=approval_item(record), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if is_conflict(exc):
                raise ApprovalExists(record.approval_id) from None
            raise
        if record.kind != "stepfunctions" or not record.release_id:
            return None
        old = self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": keys.release_approval_pk(record.release_id),
                    "sk": record.environment,
                    "approval_id": record.approval_id,
                    "expires_at": record.expires_at,
                }
            ),
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        previous = from_item(old).get("approval_id") if old else None
        return str(previous) if previous and previous != record.approval_id else None

    def get(self, approval_id: str) -> ApprovalRecord | None:
        item = self._db.get_item(TableName=self._table, Key=keys.approval_key(approval_id), ConsistentRead=True).get(
            "Item"
        )
        return approval_record(from_item(item)) if item else None

    def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=keys.approval_key(approval_id),
            UpdateExpression="SET channel_id = :c, message_ts = :t",
            ExpressionAttributeValues={":c": {"S": channel}, ":t": {"S": ts}},
        )

    def claim_post(self, approval_id: str, *, now_epoch: int, stale_after_seconds: int) -> bool:
        """Take over posting a record whose message was never posted and whose last attempt is stale.

        True for exactly one caller; False when the message exists or another delivery is posting it now.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=keys.approval_key(approval_id),
                UpdateExpression="SET posting_since = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(message_ts) AND "
                "(attribute_not_exists(posting_since) OR posting_since < :stale)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now_epoch)},
                    ":stale": {"N": str(now_epoch - stale_after_seconds)},
                },
            )
        except ClientError as exc:
            if is_conflict(exc):
                return False
            raise
        return True

    def mark_task_completed(self, approval_id: str, at: str) -> None:
        """The decision was delivered (idempotent: a second delivery writes the same fact again)."""
        self._db.update_item(
            TableName=self._table,
            Key=keys.approval_key(approval_id),
            UpdateExpression="SET task_completed_at = if_not_exists(task_completed_at, :at)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": {"S": at}},
        )

    def mark_delivery_failed(self, approval_id: str, problem: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=keys.approval_key(approval_id),
            UpdateExpression="SET delivery_problem = :p",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":p": {"S": problem[:500]}},
        )

    def current_plan_hash(self, release_id: str, environment: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key=keys.plan_key(release_id, environment), ConsistentRead=True
        ).get("Item")
        value = from_item(item).get("plan_hash") if item else None
        return str(value) if value else None

    def approval_ids_for_release(self, release_id: str) -> list[str]:
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.release_approval_pk(release_id)}},
            ConsistentRead=True,
        )
        return [str(from_item(i)["approval_id"]) for i in page.get("Items", []) if "approval_id" in i]

    # ------------------------------------------------------------------ decisions (conditional writes)
    def add_approval(self, record: ApprovalRecord, *, user: str, at: str, now_epoch: int, new_status: str) -> None:
        """Add ``user`` as an approver; ``new_status`` is APPROVED when this is the last approval needed.

        Raises DecisionConflict when the record is no longer pending, has expired, already counts this user,
        gained another approval since ``record`` was read, or (for a release) its plan hash changed.
        """
        values = {
            ":pending": {"S": ApprovalStatus.PENDING.value},
            ":now": {"N": str(now_epoch)},
            ":u": {"S": user},
            ":ul": {"L": [{"S": user}]},
            ":dl": {"L": [decision_value(Decision(user, at, "approve"))]},
            ":n": {"N": str(len(record.approved_by))},
            ":new": {"S": new_status},
            ":at": {"S": at},
        }
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": keys.approval_key(record.approval_id),
            "UpdateExpression": (
                "SET approved_by = list_append(approved_by, :ul), decisions = list_append(decisions, :dl), "
                "#s = :new, updated_at = :at"
            ),
            "ConditionExpression": (
                "#s = :pending AND expiry > :now AND NOT contains(approved_by, :u) AND size(approved_by) = :n"
            ),
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
        self._write(update, record)

    def finish(
        self,
        record: ApprovalRecord,
        *,
        status: str,
        at: str,
        now_epoch: int | None,
        user: str | None = None,
        reason: str | None = None,
    ) -> None:
        """PENDING -> ``status`` (REJECTED, EXPIRED, SUPERSEDED, VOID). ``now_epoch`` given: must not be expired.

        Raises DecisionConflict when the record is no longer pending (someone else decided first).
        """
        values: dict[str, Any] = {
            ":pending": {"S": ApprovalStatus.PENDING.value},
            ":new": {"S": status},
            ":at": {"S": at},
        }
        condition = "#s = :pending"
        expression = "SET #s = :new, updated_at = :at"
        if now_epoch is not None:
            condition += " AND expiry > :now"
            values[":now"] = {"N": str(now_epoch)}
        if user is not None:
            values[":dl"] = {"L": [decision_value(Decision(user, at, status.lower()))]}
            expression += ", decisions = list_append(decisions, :dl)"
        if reason is not None:
            values[":r"] = {"S": reason}
            expression += ", reason = :r"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": keys.approval_key(record.approval_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
        self._write(update, record, check_plan=user is not None)

    def _write(self, update: dict[str, Any], record: ApprovalRecord, *, check_plan: bool = True) -> None:
        try:
            if check_plan and record.kind == "stepfunctions" and record.plan_hash and record.release_id:
                self._db.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": self._table,
                                "Key": keys.plan_key(record.release_id, record.environment),
                                "ConditionExpression": "plan_hash = :h",
                                "ExpressionAttributeValues": {":h": {"S": record.plan_hash}},
                            }
                        },
                        {"Update": cast("UpdateTypeDef", update)},
                    ]
                )
            else:
                self._db.update_item(**update)
        except ClientError as exc:
            if is_conflict(exc):
                raise DecisionConflict(record.approval_id) from None
            raise

"""Approval records in the StateTable, and the two ways an approval is answered (Step Functions, CodePipeline).

Keys (StateTable):
- ``APPROVAL#<approval_id>`` / ``APPROVAL``        the record (see ``slipway.domain.approval`` for its fields)
- ``RELEASEAPPROVAL#<release_id>`` / ``<env>``     the release's current approval id (to void it on supersede)
- ``PLAN#<release_id>`` / ``<env>``                read only: written by PrepareEnvironment (``plan_hash``)

Every decision is ONE conditional write: an UpdateItem whose ConditionExpression requires the record to be
pending, unexpired, not yet approved by this user and unchanged since it was read (approval count), and, for a
release, a ConditionCheck in the same transaction that the release's plan hash is still the approved one. Two
clicks can never both count, and a status becomes APPROVED in the same write that adds the last approver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from slipway.adapters.audit import from_item, to_item
from slipway.domain.approval import REPOST_AFTER_SECONDS, ApprovalExists, DecisionConflict, TokenNoLongerValid

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateTypeDef
    from mypy_boto3_stepfunctions import SFNClient

    from slipway.adapters.runtime import Runtime
    from slipway.domain.approval import ApprovalGate

PENDING = "PENDING"


def approval_key(approval_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": "APPROVAL"}}


def _conflict(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


class ApprovalStore:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # ------------------------------------------------------------------ records
    def create(self, record: dict[str, Any]) -> str | None:
        """Store a new record; for a release, point RELEASEAPPROVAL at it. Returns the approval id it replaced.

        Raises ApprovalExists when a record with this approval id is already stored (conditional put).
        """
        approval_id = record["approval_id"]
        item = to_item({"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL", **record})
        try:
            self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conflict(exc):
                raise ApprovalExists(approval_id) from None
            raise
        release_id, environment = record.get("release_id"), record.get("environment")
        if record.get("kind") != "stepfunctions" or not release_id or not environment:
            return None
        old = self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"RELEASEAPPROVAL#{release_id}",
                    "sk": environment,
                    "approval_id": approval_id,
                    "expires_at": record.get("expires_at"),
                }
            ),
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        previous = from_item(old).get("approval_id") if old else None
        return str(previous) if previous and previous != approval_id else None

    def get(self, approval_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=approval_key(approval_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=approval_key(approval_id),
            UpdateExpression="SET channel_id = :c, message_ts = :t",
            ExpressionAttributeValues={":c": {"S": channel}, ":t": {"S": ts}},
        )

    def claim_post(self, approval_id: str, *, now_epoch: int) -> bool:
        """Take over posting a record whose message was never posted and whose last attempt is stale.

        True for exactly one caller; False when the message exists or another delivery is posting it now.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=approval_key(approval_id),
                UpdateExpression="SET posting_since = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(message_ts) AND "
                "(attribute_not_exists(posting_since) OR posting_since < :stale)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now_epoch)},
                    ":stale": {"N": str(now_epoch - REPOST_AFTER_SECONDS)},
                },
            )
        except ClientError as exc:
            if _conflict(exc):
                return False
            raise
        return True

    def current_plan_hash(self, release_id: str, environment: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"PLAN#{release_id}"}, "sk": {"S": environment}},
            ConsistentRead=True,
        ).get("Item")
        value = from_item(item).get("plan_hash") if item else None
        return str(value) if value else None

    def approval_ids_for_release(self, release_id: str) -> list[str]:
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RELEASEAPPROVAL#{release_id}"}},
            ConsistentRead=True,
        )
        return [str(from_item(i)["approval_id"]) for i in page.get("Items", []) if "approval_id" in i]

    # ------------------------------------------------------------------ decisions (conditional writes)
    def add_approval(
        self,
        record: dict[str, Any],
        *,
        user: str,
        at: str,
        now_epoch: int,
        new_status: str,
    ) -> None:
        """Add ``user`` as an approver; ``new_status`` is APPROVED when this is the last approval needed.

        Raises DecisionConflict when the record is no longer pending, has expired, already counts this user,
        gained another approval since ``record`` was read, or (for a release) its plan hash changed.
        """
        values = {
            ":pending": {"S": PENDING},
            ":now": {"N": str(now_epoch)},
            ":u": {"S": user},
            ":ul": {"L": [{"S": user}]},
            ":dl": {"L": [to_item({"d": {"user": user, "at": at, "decision": "approve"}})["d"]]},
            ":n": {"N": str(len(record.get("approved_by", [])))},
            ":new": {"S": new_status},
            ":at": {"S": at},
        }
        condition = "#s = :pending AND expiry > :now AND NOT contains(approved_by, :u) AND size(approved_by) = :n"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": approval_key(record["approval_id"]),
            "UpdateExpression": (
                "SET approved_by = list_append(approved_by, :ul), decisions = list_append(decisions, :dl), "
                "#s = :new, updated_at = :at"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
        self._write(update, record)

    def finish(
        self,
        record: dict[str, Any],
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
        values: dict[str, Any] = {":pending": {"S": PENDING}, ":new": {"S": status}, ":at": {"S": at}}
        condition = "#s = :pending"
        expression = "SET #s = :new, updated_at = :at"
        if now_epoch is not None:
            condition += " AND expiry > :now"
            values[":now"] = {"N": str(now_epoch)}
        if user is not None:
            values[":dl"] = {"L": [to_item({"d": {"user": user, "at": at, "decision": status.lower()}})["d"]]}
            expression += ", decisions = list_append(decisions, :dl)"
        if reason is not None:
            values[":r"] = {"S": reason}
            expression += ", reason = :r"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": approval_key(record["approval_id"]),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
        self._write(update, record, check_plan=user is not None)

    def _write(self, update: dict[str, Any], record: dict[str, Any], *, check_plan: bool = True) -> None:
        plan_hash = record.get("plan_hash")
        try:
            if check_plan and record.get("kind") == "stepfunctions" and plan_hash:
                self._db.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": self._table,
                                "Key": {
                                    "pk": {"S": f"PLAN#{record['release_id']}"},
                                    "sk": {"S": record["environment"]},
                                },
                                "ConditionExpression": "plan_hash = :h",
                                "ExpressionAttributeValues": {":h": {"S": plan_hash}},
                            }
                        },
                        {"Update": cast("UpdateTypeDef", update)},
                    ]
                )
            else:
                self._db.update_item(**update)
        except ClientError as exc:
            if _conflict(exc):
                raise DecisionConflict(record["approval_id"]) from None
            raise


class StepFunctionsTasks:
    """Completes a waiting ``.waitForTaskToken`` task."""

    def __init__(self, sfn: SFNClient) -> None:
        self._sfn = sfn

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        import json

        self._call(lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._call(lambda: self._sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32768]))

    @staticmethod
    def _call(action: Any) -> None:
        try:
            action()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise TokenNoLongerValid(f"the release is no longer waiting for this approval ({code})") from None
            raise


class CodePipelineApprovals:
    """Answers a CodePipeline Manual approval action."""

    def __init__(self, codepipeline: CodePipelineClient) -> None:
        self._cp = codepipeline

    def put_result(self, source: dict[str, Any], approved: bool, summary: str) -> None:
        try:
            self._cp.put_approval_result(
                pipelineName=source["pipeline_name"],
                stageName=source["stage_name"],
                actionName=source["action_name"],
                result={"summary": summary[:512], "status": "Approved" if approved else "Rejected"},
                token=source["token"],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ApprovalAlreadyCompletedException":
                raise TokenNoLongerValid("CodePipeline says this approval was already answered") from None
            if code == "InvalidApprovalTokenException":
                raise TokenNoLongerValid(
                    "CodePipeline no longer accepts this approval (it expired or the pipeline moved on)"
                ) from None
            if code in ("ActionNotFoundException", "StageNotFoundException", "PipelineNotFoundException"):
                raise TokenNoLongerValid(f"CodePipeline cannot find this approval action ({code})") from None
            raise


def build_gate(rt: Runtime) -> ApprovalGate:
    """The approval gate wired to AWS and Slack from the function's runtime (clients created on first use)."""
    from slipway.adapters.slack import slack_client, slack_secrets
    from slipway.domain.approval import ApprovalGate

    settings = rt.settings
    return ApprovalGate(
        store=ApprovalStore(rt.aws.dynamodb, settings.state_table),
        slack_factory=lambda: slack_client(settings),
        signing_secret=lambda: slack_secrets(settings).signing_secret,
        tasks_factory=lambda: StepFunctionsTasks(rt.aws.sfn),
        codepipeline_factory=lambda: CodePipelineApprovals(rt.aws.codepipeline),
        audit_factory=lambda: rt.audit,
        config=rt.config,
    )

"""A CodePipeline Manual approval action (its SNS notification) -> a Slack approval message, once per token.

The answer comes back through the same Slack callback (``decide``), which calls PutApprovalResult. SNS delivers
at least once: the approval id derives from the token and the record is created with a conditional put, so a
redelivered notification posts nothing. A notification that arrives after its ``expires`` is posted as Expired.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from slipway.domain.approval.messages import (
    action_blocks,
    approvers_text,
    escape,
    fields,
    fmt_time,
    pending_text,
    section,
    status_block,
)
from slipway.domain.approval.ports import ApprovalGate
from slipway.domain.approval.request import RECORD_RETENTION, channel_for
from slipway.errors import ApprovalExists, ConfigError
from slipway.models.config import Pipeline, SlipwayConfig
from slipway.models.events import CodePipelineApprovalNotification
from slipway.models.records import ApprovalRecord, ApprovalStatus, CodePipelineAction
from slipway.observability import DUPLICATE_RELEASE_IGNORED, emit, logger

CUSTOM_DATA_TARGET = re.compile(r"slipway:\s*([A-Za-z0-9][A-Za-z0-9_-]*)/([A-Za-z0-9][A-Za-z0-9_-]*)")
REPOST_AFTER_SECONDS = 120  # a record whose message was never posted (a crashed delivery) may be posted again


def codepipeline_target(config: SlipwayConfig, notification: CodePipelineApprovalNotification) -> tuple[Pipeline, str]:
    """Which slipway pipeline/environment's approval policy applies.

    ``slipway: <pipeline>/<environment>`` in the action's CustomData says it; otherwise a slipway pipeline named
    like the CodePipeline pipeline, and the one environment whose name is a word of the stage name
    (``Approve_Deployment_to_Production`` -> ``production``).
    """
    approval = notification.approval
    hint = CUSTOM_DATA_TARGET.search(approval.custom_data or "")
    where = f"CodePipeline approval {approval.pipeline_name}/{approval.stage_name}/{approval.action_name}"
    if hint:
        pipeline_name, environment = hint.groups()
        try:
            pipeline = config.pipeline(pipeline_name)
            pipeline.environment(environment)
        except KeyError as exc:
            raise ConfigError(f"{where}: CustomData names {pipeline_name}/{environment}: {exc.args[0]}") from None
        return pipeline, environment
    if approval.pipeline_name in config.pipelines:
        pipeline = config.pipelines[approval.pipeline_name]
        words = {w for w in re.split(r"[^a-z0-9]+", approval.stage_name.lower()) if w}
        matches = [name for name in pipeline.environment_names() if name.lower() in words]
        if len(matches) == 1:
            return pipeline, matches[0]
    raise ConfigError(
        f"{where}: cannot tell whose approvers apply. Add 'slipway: <pipeline>/<environment>' to the approval "
        "action's CustomData (for example 'slipway: web-app/production')"
    )


def codepipeline_approval_id(notification: CodePipelineApprovalNotification) -> str:
    """The same notification (pipeline, stage, action, token) always gets the same approval id."""
    a = notification.approval
    key = "\n".join(("codepipeline", a.pipeline_name, a.stage_name, a.action_name, a.token))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _summary(
    notification: CodePipelineApprovalNotification, pipeline: Pipeline, environment: str, approval_id: str
) -> list[dict[str, Any]]:
    approval = notification.approval
    policy = pipeline.environment(environment).approval
    links = []
    if approval.approval_review_link:
        links.append(f"<{approval.approval_review_link}|Review in the CodePipeline console>")
    if approval.external_entity_link:
        links.append(f"<{approval.external_entity_link}|Changes to review>")
    summary: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Approve CodePipeline {approval.pipeline_name}?"[:150]},
        },
        fields(
            [
                ("CodePipeline", f"`{escape(approval.pipeline_name)}`"),
                ("Stage / action", f"`{escape(approval.stage_name)}` / `{escape(approval.action_name)}`"),
                ("Region", f"`{escape(notification.region)}`" if notification.region else "unknown"),
                ("Approvers from", f"`{pipeline.name}` / `{environment}`"),
                ("Expires", fmt_time(approval.expires)),
                (
                    "Approvals needed",
                    approvers_text(policy.approvers.users, policy.approvers.groups, policy.min_approvals),
                ),
            ]
        ),
    ]
    if approval.custom_data:
        summary.append(section(f"*Note from the pipeline*\n{escape(approval.custom_data)}"))
    if links:
        summary.append(section(" · ".join(links)))
    summary.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"approval `{approval_id}`"}]})
    return summary


def request_codepipeline_approval(gate: ApprovalGate, notification: CodePipelineApprovalNotification) -> dict[str, Any]:
    """Post the Slack approval message for a CodePipeline Manual approval action, once per approval token."""
    approval = notification.approval
    pipeline, environment = codepipeline_target(gate.config(), notification)
    policy = pipeline.environment(environment).approval
    if not policy.approvers.users and not policy.approvers.groups:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} names no approvers: add approval.approvers "
            "so the CodePipeline approval can be answered from Slack"
        )
    channel = channel_for(pipeline, environment)
    now = gate.clock()
    approval_id = codepipeline_approval_id(notification)
    expired = approval.expires <= now
    summary = _summary(notification, pipeline, environment, approval_id)
    record = ApprovalRecord(
        approval_id=approval_id,
        kind="codepipeline",
        status=ApprovalStatus.EXPIRED if expired else ApprovalStatus.PENDING,
        pipeline=pipeline.name,
        environment=environment,
        requested_at=now.isoformat(),
        expiry=int(approval.expires.timestamp()),
        expires_at=int((approval.expires + RECORD_RETENTION).timestamp()),
        required=policy.min_approvals,
        approvers_users=list(policy.approvers.users),
        approvers_groups=list(policy.approvers.groups),
        allow_pusher=True,
        channel=channel,
        title=f"Approval needed: CodePipeline {approval.pipeline_name} / {approval.stage_name}",
        summary_blocks=json.dumps(summary),
        codepipeline=CodePipelineAction(
            pipeline_name=approval.pipeline_name,
            stage_name=approval.stage_name,
            action_name=approval.action_name,
            token=approval.token,
            region=notification.region,
        ),
        posting_since=int(now.timestamp()),
        reason="CodePipeline stopped waiting before the notification arrived" if expired else None,
        updated_at=now.isoformat(timespec="seconds") if expired else None,
    )
    try:
        gate.store.create(record)
    except ApprovalExists:
        existing = gate.store.get(approval_id)
        claimed = existing is not None and gate.store.claim_post(
            approval_id, now_epoch=int(now.timestamp()), stale_after_seconds=REPOST_AFTER_SECONDS
        )
        if existing is None or not claimed:
            return _duplicate(notification, approval_id, existing)
        record = existing  # an earlier delivery stored it but never posted (it failed): post it now
        logger.warning(
            "re-posting a CodePipeline approval an earlier delivery did not post", extra={"approval_id": approval_id}
        )
    if record.status == ApprovalStatus.PENDING:
        blocks = [*summary, status_block(pending_text(record)), *action_blocks(approval_id)]
    else:
        status = (
            f":hourglass: Expired: CodePipeline stopped waiting at {fmt_time(approval.expires)}. Nothing to approve."
        )
        blocks = [*summary, status_block(status)]
    channel_id, ts = gate.slack.post_message_in(channel, record.title, blocks)
    gate.store.set_message(approval_id, channel_id, ts)
    logger.info(
        "CodePipeline approval posted",
        extra={
            "codepipeline": approval.pipeline_name,
            "stage": approval.stage_name,
            "approval_id": approval_id,
            "status": record.status,
        },
    )
    return {"approval_id": approval_id, "channel": channel_id, "ts": ts, "status": record.status}


def _duplicate(
    notification: CodePipelineApprovalNotification, approval_id: str, existing: ApprovalRecord | None
) -> dict[str, Any]:
    emit(DUPLICATE_RELEASE_IGNORED)
    logger.info(
        "duplicate CodePipeline approval notification ignored",
        extra={
            "codepipeline": notification.approval.pipeline_name,
            "stage": notification.approval.stage_name,
            "approval_id": approval_id,
        },
    )
    return {
        "approval_id": approval_id,
        "channel": existing.channel_id if existing else None,
        "ts": existing.message_ts if existing else None,
        "status": existing.status if existing else None,
        "duplicate": True,
    }


def on_approval_notifications(
    gate: ApprovalGate, notifications: list[CodePipelineApprovalNotification]
) -> dict[str, Any]:
    """Every notification of one SNS event (one record each)."""
    return {"approvals": [request_codepipeline_approval(gate, n) for n in notifications]}

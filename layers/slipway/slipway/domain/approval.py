"""The Slack approval gate: request an approval, verify and apply a click, void or expire what is left.

Flow (see docs/approvals.md):
1. ``request_approval`` (a ``.waitForTaskToken`` task) stores an approval record in the StateTable and posts a
   Block Kit message whose Approve / Reject buttons carry only the approval id (never the task token).
   ``request_codepipeline_approval`` does the same for a CodePipeline Manual approval action (SNS).
2. ``handle_interaction`` (HTTP API ``POST /slack/interactions``) verifies Slack's signature over the raw body
   before anything else, then parses the ``block_actions`` payload and decides with one conditional write
   (``slipway.adapters.approvals.ApprovalStore``). Approve -> SendTaskSuccess / PutApprovalResult Approved;
   Reject -> SendTaskFailure error ``Rejected`` / PutApprovalResult Rejected.
3. ``void_approvals_for_release`` (supersede) and ``expire_approvals_for_release`` (timeout) close what is left.

This module imports only the standard library at import time: the Slack callback's cold start stays small, and
a forged request is refused before boto3, pydantic or slack_sdk are loaded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from slipway.errors import ConfigError, MalformedEvent, SlipwayError

if TYPE_CHECKING:
    from slipway.adapters.approvals import ApprovalStore, CodePipelineApprovals, StepFunctionsTasks
    from slipway.adapters.audit import AuditLog
    from slipway.adapters.runtime import Runtime
    from slipway.adapters.slack import SlackClient
    from slipway.models.config import ApprovalPolicy, Pipeline, SlipwayConfig
    from slipway.models.release import Plan, Release

SIGNATURE_VERSION = "v0"
MAX_REQUEST_AGE_SECONDS = 300
APPROVE_ACTION = "slipway_approve"
REJECT_ACTION = "slipway_reject"
ACTIONS_BLOCK_ID = "slipway_approval_actions"
STATUS_BLOCK_ID = "slipway_approval_status"
RECORD_RETENTION = timedelta(days=7)  # the record outlives its expiry so a late click still reads "Expired"
APPROVAL_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
MAX_DIFF_CHARS = 2600
DECISION_ATTEMPTS = 3
EXPIRED_TEXT = ":hourglass: Expired: nobody approved in time. Nothing was deployed."

PENDING = "PENDING"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
SUPERSEDED = "SUPERSEDED"
VOID = "VOID"


class TokenNoLongerValid(SlipwayError):
    """Step Functions or CodePipeline no longer waits for this approval (timed out, answered, or gone)."""


class DecisionConflict(Exception):
    """A conditional write failed: the record changed since it was read; the caller re-reads and decides again."""


class ApprovalExists(Exception):
    """``ApprovalStore.create`` found a record with this approval id already (a redelivered notification)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# ====================================================================== signature (stdlib only, constant time)
def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with the signing secret."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_slack_signature(
    signing_secret: str, timestamp: str | None, body: bytes, signature: str | None, *, now: float
) -> bool:
    """True only for a well-formed timestamp within 5 minutes of ``now`` and a matching signature.

    The comparison is ``hmac.compare_digest`` (constant time); nothing says why a request failed.
    """
    if not signing_secret or not timestamp or not signature:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
        return False
    expected = slack_signature(signing_secret, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class HttpRequest:
    headers: dict[str, str]
    body: bytes


def read_http_event(event: object) -> HttpRequest | None:
    """API Gateway v2 (HTTP API) event -> lower-cased headers and the raw body bytes; None if unusable."""
    if not isinstance(event, dict):
        return None
    raw_headers = event.get("headers") or {}
    body = event.get("body")
    if not isinstance(raw_headers, dict) or not isinstance(body, str):
        return None
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            return None
    else:
        data = body.encode("utf-8")
    return HttpRequest(headers=headers, body=data)


def _http(status: int, body: str = "") -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": body}


# ====================================================================== the gate and its collaborators
@dataclass
class ApprovalGate:
    """Everything the approval flow talks to, created on first use (see ``slipway.adapters.approvals.build_gate``)."""

    store: ApprovalStore
    slack_factory: Callable[[], SlackClient]
    signing_secret: Callable[[], str]
    tasks_factory: Callable[[], StepFunctionsTasks]
    codepipeline_factory: Callable[[], CodePipelineApprovals]
    audit_factory: Callable[[], AuditLog]
    config: Callable[[], SlipwayConfig]
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = field(default=lambda: secrets.token_hex(16))

    @cached_property
    def slack(self) -> SlackClient:
        return self.slack_factory()

    @cached_property
    def tasks(self) -> StepFunctionsTasks:
        return self.tasks_factory()

    @cached_property
    def codepipeline(self) -> CodePipelineApprovals:
        return self.codepipeline_factory()

    @cached_property
    def audit(self) -> AuditLog:
        return self.audit_factory()


def default_gate() -> ApprovalGate:
    from slipway.adapters.approvals import build_gate
    from slipway.adapters.runtime import runtime

    return build_gate(runtime())


def _log() -> Any:
    from slipway.observability import logger

    return logger


def _observe_record(record: dict[str, Any]) -> None:
    """The Slack callback learns the release only from the approval record: make it the correlation id."""
    from slipway.observability import set_release_context

    set_release_context(record.get("release_id"), approval_id=record.get("approval_id"))


def _emit_wait(record: dict[str, Any], at: str) -> None:
    """``ApprovalWaitSeconds``: from the request to the decision that closed the approval."""
    from slipway.observability import APPROVAL_WAIT_SECONDS, emit

    try:
        waited = (datetime.fromisoformat(at) - datetime.fromisoformat(str(record["requested_at"]))).total_seconds()
    except (KeyError, ValueError, TypeError):
        _log().warning(
            "approval record without a usable requested_at", extra={"approval_id": record.get("approval_id")}
        )
        return
    emit(APPROVAL_WAIT_SECONDS, max(waited, 0.0))


# ====================================================================== formatting
def _fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _escape(text: str) -> str:
    """Slack mrkdwn control characters in user-provided text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _user_ref(user: str | None) -> str:
    if not user:
        return "unknown"
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
        return f"<@{user}>"
    return _escape(user)


def _users_ref(users: list[str]) -> str:
    return ", ".join(_user_ref(u) for u in users)


def _approvers_text(users: list[str], groups: list[str], required: int) -> str:
    who = [f"<@{u}>" for u in users] + [f"<!subteam^{g}>" for g in groups]
    return f"{required} of {', '.join(who) if who else 'nobody configured'}"


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
    if block_id:
        block["block_id"] = block_id
    return block


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"[:2000]} for label, value in pairs[:10]],
    }


def _code(lines: list[str]) -> str:
    text = "\n".join(lines).replace("```", "'''")
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + "\n… (truncated; see `slipway plan` for the full diff)"
    return f"```{_escape(text)}```"


def action_blocks(approval_id: str) -> list[dict[str, Any]]:
    """The Approve / Reject buttons: their value is the approval id and nothing else."""
    return [
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK_ID,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": approval_id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Approve this deployment?"},
                        "text": {"type": "mrkdwn", "text": "The release continues as soon as enough people approve."},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": approval_id,
                },
            ],
        }
    ]


def release_blocks(
    *,
    release: Release,
    plan: Plan,
    environment: str,
    policy: ApprovalPolicy,
    expiry: datetime,
    earlier: list[tuple[str, dict[str, Any] | None]],
    approval_id: str,
) -> list[dict[str, Any]]:
    """The approval message for a release, without its buttons (the record keeps these blocks for updates)."""
    tags = ", ".join(f"`{_escape(t)}`" for t in release.tags) or "none"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Approve {release.pipeline} → {environment}?"[:150]},
        },
        _fields(
            [
                ("Pipeline", f"`{_escape(release.pipeline)}`"),
                ("Environment", f"`{_escape(environment)}`"),
                ("Image", f"`{_escape(release.repository)}@{release.digest}`"),
                ("Tags", tags),
                ("Commit", f"`{_escape(release.commit)}`" if release.commit else "unknown"),
                ("Pushed by", _user_ref(release.pushed_by)),
                ("Expires", _fmt_time(expiry)),
                (
                    "Approvals needed",
                    _approvers_text(policy.approvers.users, policy.approvers.groups, policy.min_approvals),
                ),
            ]
        ),
    ]
    if earlier:
        lines = []
        for name, result in earlier:
            if result is None:
                lines.append(f"• `{_escape(name)}`: no result recorded")
                continue
            detail = [str(result.get("status", "unknown"))]
            if result.get("deployment_id"):
                detail.append(f"deployment {_escape(str(result['deployment_id']))}")
            if result.get("finished_at"):
                detail.append(f"at {_escape(str(result['finished_at']))}")
            lines.append(f"• `{_escape(name)}`: " + ", ".join(detail))
        blocks.append(_section("*Earlier environments*\n" + "\n".join(lines)))
    if plan.scan_findings is not None:
        counts = " · ".join(f"{sev} {n}" for sev, n in plan.scan_findings.items()) or "no findings"
        blocks.append(_section(f"*Image scan findings*: {_escape(counts)}"))
    if plan.diff:
        blocks.append(_section("*Changes against what runs now*\n" + _code(plan.diff)))
    else:
        blocks.append(_section("*Changes against what runs now*: none besides the image"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"release `{release.release_id}` · plan `{plan.plan_hash[:12]}` · approval `{approval_id}`",
                }
            ],
        }
    )
    return blocks


def status_block(text: str) -> dict[str, Any]:
    return _section(text, block_id=STATUS_BLOCK_ID)


def _message(record: dict[str, Any], status_text: str, *, buttons: bool) -> tuple[str, list[dict[str, Any]]]:
    blocks: list[dict[str, Any]] = json.loads(record.get("summary_blocks") or "[]")
    blocks.append(status_block(status_text))
    if buttons:
        blocks.extend(action_blocks(record["approval_id"]))
    return f"{record.get('title', 'Approval')}: {status_text}", blocks


# ====================================================================== request
def _parse(model: Any, value: object, name: str) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"{name}: {e['msg']}"
            for e in exc.errors()
        )
        raise MalformedEvent(f"approval request: {problems}") from None


def _channel_for(pipeline: Pipeline, environment: str) -> str:
    env = pipeline.environment(environment)
    channel = env.slack_channel or pipeline.slack_channel
    if not channel:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} needs an approval but names no Slack "
            "channel: set slack_channel on the environment or the pipeline"
        )
    return channel


def request_approval(event: dict[str, Any], gate: ApprovalGate | None = None) -> dict[str, Any]:
    """The RequestApproval task: store the record (with the task token) and post the approval message."""
    from slipway.models.release import Plan, Release

    if not isinstance(event, dict):
        raise MalformedEvent("approval request: the payload must be a JSON object")
    for key in ("task_token", "release", "environment", "plan"):
        if not event.get(key):
            raise MalformedEvent(f"approval request: missing {key!r}")
    gate = gate or default_gate()
    release: Release = _parse(Release, event["release"], "release")
    plan: Plan = _parse(Plan, event["plan"], "plan")
    environment = str(event["environment"])
    from slipway.domain.image_facts import recorded_release

    # Every tag and the commit PrepareEnvironment recorded (the execution input only has the pushed tag).
    release = recorded_release(release, gate.audit.release(release.release_id))
    pipeline = gate.config().pipeline(release.pipeline)
    env = pipeline.environment(environment)
    policy = env.approval
    if not policy.approvers.users and not policy.approvers.groups:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} needs an approval (required, or forced by the "
            "scan gate) but names no approvers: add approval.approvers.users or approval.approvers.groups"
        )
    channel = _channel_for(pipeline, environment)

    now = gate.clock()
    expiry = now + timedelta(seconds=plan.approval_timeout_seconds)
    names = pipeline.environment_names()
    earlier = [
        (name, gate.audit.environment_result(release.release_id, name)) for name in names[: names.index(environment)]
    ]
    approval_id = gate.new_id()
    summary = release_blocks(
        release=release,
        plan=plan,
        environment=environment,
        policy=policy,
        expiry=expiry,
        earlier=earlier,
        approval_id=approval_id,
    )
    title = f"Approval needed: {release.pipeline} → {environment} ({release.digest[:19]}…)"
    record = {
        "approval_id": approval_id,
        "kind": "stepfunctions",
        "status": PENDING,
        "task_token": event["task_token"],
        "release_id": release.release_id,
        "pipeline": release.pipeline,
        "environment": environment,
        "digest": release.digest,
        "plan_hash": plan.plan_hash,
        "requested_at": now.isoformat(),
        "expiry": int(expiry.timestamp()),
        "expires_at": int((expiry + RECORD_RETENTION).timestamp()),
        "required": policy.min_approvals,
        "approvers_users": list(policy.approvers.users),
        "approvers_groups": list(policy.approvers.groups),
        "allow_pusher": policy.allow_pusher,
        "pushed_by": release.pushed_by,
        "approved_by": [],
        "decisions": [],
        "channel": channel,
        "title": title,
        "summary_blocks": json.dumps(summary),
    }
    replaced = gate.store.create(record)
    if replaced:
        _close(gate, replaced, status=VOID, text="Replaced by a newer approval request", fail_task=False)
    channel_id, ts = gate.slack.post_message_in(
        channel, title, [*summary, status_block(_pending_text(record)), *action_blocks(approval_id)]
    )
    gate.store.set_message(approval_id, channel_id, ts)
    gate.audit.event(
        release.release_id,
        "approval_requested",
        environment,
        approval_id=approval_id,
        channel=channel_id,
        message_ts=ts,
        expires=expiry.isoformat(),
        required=policy.min_approvals,
        plan_hash=plan.plan_hash,
    )
    _log().info(
        "approval requested",
        extra={"release_id": release.release_id, "environment": environment, "approval_id": approval_id},
    )
    return {"approval_id": approval_id, "channel": channel_id, "ts": ts, "expires_at": expiry.isoformat()}


def _pending_text(record: dict[str, Any]) -> str:
    approved = list(record.get("approved_by", []))
    required = int(record.get("required", 1))
    if not approved:
        return f":hourglass_flowing_sand: Waiting for {required} approval{'s' if required > 1 else ''}"
    return (
        f":hourglass_flowing_sand: Approved by {_users_ref(approved)} ({len(approved)} of {required}); "
        f"waiting for {required - len(approved)} more"
    )


# ====================================================================== CodePipeline Manual approval (SNS)
@dataclass(frozen=True)
class CodePipelineApproval:
    region: str
    console_link: str | None
    pipeline_name: str
    stage_name: str
    action_name: str
    token: str
    expires: datetime
    external_entity_link: str | None
    approval_review_link: str | None
    custom_data: str | None


def parse_codepipeline_notification(message: object) -> CodePipelineApproval:
    """The JSON CodePipeline publishes to SNS for a Manual approval action (AWS's documented shape)."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            raise MalformedEvent("CodePipeline approval notification: the SNS message is not JSON") from None
    if not isinstance(message, dict):
        raise MalformedEvent("CodePipeline approval notification: the message must be a JSON object")
    approval = message.get("approval")
    if not isinstance(approval, dict):
        raise MalformedEvent("CodePipeline approval notification: missing 'approval'")
    for key in ("pipelineName", "stageName", "actionName", "token", "expires"):
        if not isinstance(approval.get(key), str) or not approval[key]:
            raise MalformedEvent(f"CodePipeline approval notification: missing approval.{key}")
    try:
        expires = datetime.fromisoformat(approval["expires"])
    except ValueError:
        raise MalformedEvent(
            f"CodePipeline approval notification: approval.expires is not a time: {approval['expires']!r}"
        ) from None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)

    def optional(key: str) -> str | None:
        value = approval.get(key)
        return str(value) if value else None

    return CodePipelineApproval(
        region=str(message.get("region") or ""),
        console_link=str(message["consoleLink"]) if message.get("consoleLink") else None,
        pipeline_name=approval["pipelineName"],
        stage_name=approval["stageName"],
        action_name=approval["actionName"],
        token=approval["token"],
        expires=expires,
        external_entity_link=optional("externalEntityLink"),
        approval_review_link=optional("approvalReviewLink"),
        custom_data=optional("customData"),
    )


CUSTOM_DATA_TARGET = re.compile(r"slipway:\s*([A-Za-z0-9][A-Za-z0-9_-]*)/([A-Za-z0-9][A-Za-z0-9_-]*)")


def codepipeline_target(config: SlipwayConfig, approval: CodePipelineApproval) -> tuple[Pipeline, str]:
    """Which slipway pipeline/environment's approval policy applies.

    ``slipway: <pipeline>/<environment>`` in the action's CustomData says it; otherwise a slipway pipeline named
    like the CodePipeline pipeline, and the one environment whose name is a word of the stage name
    (``Approve_Deployment_to_Production`` -> ``production``).
    """
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


REPOST_AFTER_SECONDS = 120  # a record whose message was never posted (a crashed delivery) may be posted again


def codepipeline_approval_id(approval: CodePipelineApproval) -> str:
    """The same notification (pipeline, stage, action, token) always gets the same approval id."""
    key = "\n".join(("codepipeline", approval.pipeline_name, approval.stage_name, approval.action_name, approval.token))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def request_codepipeline_approval(message: object, gate: ApprovalGate | None = None) -> dict[str, Any]:
    """Post the Slack approval message for a CodePipeline Manual approval action, once per approval token.

    SNS delivers at least once: the approval id derives from the token and the record is created with a
    conditional put, so a redelivered notification posts nothing (logged, counted as ``DuplicateReleaseIgnored``).
    A notification that arrives after its ``expires`` is posted as Expired, without buttons.
    """
    approval = parse_codepipeline_notification(message)
    gate = gate or default_gate()
    pipeline, environment = codepipeline_target(gate.config(), approval)
    policy = pipeline.environment(environment).approval
    if not policy.approvers.users and not policy.approvers.groups:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} names no approvers: add approval.approvers "
            "so the CodePipeline approval can be answered from Slack"
        )
    channel = _channel_for(pipeline, environment)
    now = gate.clock()
    approval_id = codepipeline_approval_id(approval)
    expired = approval.expires <= now
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
        _fields(
            [
                ("CodePipeline", f"`{_escape(approval.pipeline_name)}`"),
                ("Stage / action", f"`{_escape(approval.stage_name)}` / `{_escape(approval.action_name)}`"),
                ("Region", f"`{_escape(approval.region)}`" if approval.region else "unknown"),
                ("Approvers from", f"`{pipeline.name}` / `{environment}`"),
                ("Expires", _fmt_time(approval.expires)),
                (
                    "Approvals needed",
                    _approvers_text(policy.approvers.users, policy.approvers.groups, policy.min_approvals),
                ),
            ]
        ),
    ]
    if approval.custom_data:
        summary.append(_section(f"*Note from the pipeline*\n{_escape(approval.custom_data)}"))
    if links:
        summary.append(_section(" · ".join(links)))
    summary.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"approval `{approval_id}`"}]})
    title = f"Approval needed: CodePipeline {approval.pipeline_name} / {approval.stage_name}"
    record = {
        "approval_id": approval_id,
        "kind": "codepipeline",
        "status": EXPIRED if expired else PENDING,
        "codepipeline": {
            "pipeline_name": approval.pipeline_name,
            "stage_name": approval.stage_name,
            "action_name": approval.action_name,
            "token": approval.token,
            "region": approval.region,
        },
        "pipeline": pipeline.name,
        "environment": environment,
        "requested_at": now.isoformat(),
        "expiry": int(approval.expires.timestamp()),
        "expires_at": int((approval.expires + RECORD_RETENTION).timestamp()),
        "required": policy.min_approvals,
        "approvers_users": list(policy.approvers.users),
        "approvers_groups": list(policy.approvers.groups),
        "allow_pusher": True,
        "approved_by": [],
        "decisions": [],
        "channel": channel,
        "title": title,
        "summary_blocks": json.dumps(summary),
        "posting_since": int(now.timestamp()),
    }
    if expired:
        record["reason"] = "CodePipeline stopped waiting before the notification arrived"
        record["updated_at"] = now.isoformat(timespec="seconds")
    try:
        gate.store.create(record)
    except ApprovalExists:
        existing = gate.store.get(approval_id)
        if existing is None or not gate.store.claim_post(approval_id, now_epoch=int(now.timestamp())):
            return _duplicate_codepipeline_approval(approval, approval_id, existing)
        record = existing  # an earlier delivery stored it but never posted (it failed): post it now
        _log().warning(
            "re-posting a CodePipeline approval an earlier delivery did not post", extra={"approval_id": approval_id}
        )
    if record.get("status") == PENDING:
        blocks = [*summary, status_block(_pending_text(record)), *action_blocks(approval_id)]
    else:
        status = (
            f":hourglass: Expired: CodePipeline stopped waiting at {_fmt_time(approval.expires)}. Nothing to approve."
        )
        blocks = [*summary, status_block(status)]
    channel_id, ts = gate.slack.post_message_in(channel, title, blocks)
    gate.store.set_message(approval_id, channel_id, ts)
    _log().info(
        "CodePipeline approval posted",
        extra={
            "codepipeline": approval.pipeline_name,
            "stage": approval.stage_name,
            "approval_id": approval_id,
            "status": record.get("status"),
        },
    )
    return {"approval_id": approval_id, "channel": channel_id, "ts": ts, "status": record.get("status")}


def _duplicate_codepipeline_approval(
    approval: CodePipelineApproval, approval_id: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    from slipway.observability import DUPLICATE_RELEASE_IGNORED, emit

    emit(DUPLICATE_RELEASE_IGNORED)
    _log().info(
        "duplicate CodePipeline approval notification ignored",
        extra={"codepipeline": approval.pipeline_name, "stage": approval.stage_name, "approval_id": approval_id},
    )
    existing = existing or {}
    return {
        "approval_id": approval_id,
        "channel": existing.get("channel_id"),
        "ts": existing.get("message_ts"),
        "status": existing.get("status"),
        "duplicate": True,
    }


# ====================================================================== the Slack callback
@dataclass(frozen=True)
class Click:
    approval_id: str
    action: str  # APPROVE_ACTION or REJECT_ACTION
    user: str
    response_url: str


def parse_block_actions(body: bytes) -> Click | None:
    """The ``payload`` form field of a ``block_actions`` interaction; None when it is not one of ours.

    Raises MalformedEvent when the (already authenticated) body is not a Slack interaction at all.
    """
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][-1])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise MalformedEvent("Slack interaction: the body has no JSON 'payload' form field") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") or {}
    actions = payload.get("actions") or []
    response_url = payload.get("response_url")
    if not isinstance(user, dict) or not isinstance(actions, list) or not isinstance(response_url, str):
        raise MalformedEvent("Slack interaction: block_actions without user, actions or response_url")
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in (APPROVE_ACTION, REJECT_ACTION):
            user_id = user.get("id")
            if not isinstance(user_id, str) or not user_id:
                raise MalformedEvent("Slack interaction: block_actions without user.id")
            return Click(
                approval_id=str(action.get("value") or ""),
                action=str(action["action_id"]),
                user=user_id,
                response_url=response_url,
            )
    return None


def handle_interaction(event: object, gate: ApprovalGate | None = None) -> dict[str, Any]:
    """HTTP API ``POST /slack/interactions``: authenticate, then decide. Always answers Slack quickly.

    401 (empty body) for anything that is not signed by Slack within the last 5 minutes; 400 for a signed body
    that is not an interaction; 200 otherwise (refusals are ephemeral Slack replies, not HTTP errors).
    """
    request = read_http_event(event)
    if request is None:
        return _http(401)
    gate = gate or default_gate()
    ok = verify_slack_signature(
        gate.signing_secret(),
        request.headers.get("x-slack-request-timestamp"),
        request.body,
        request.headers.get("x-slack-signature"),
        now=gate.clock().timestamp(),
    )
    if not ok:
        _log().warning("Slack interaction refused: signature missing, stale or wrong")
        return _http(401)
    try:
        click = parse_block_actions(request.body)
    except MalformedEvent as exc:
        _log().warning("Slack interaction ignored", extra={"problem": str(exc)})
        return _http(400)
    if click is not None:
        decide(gate, click)
    return _http(200)


def _ephemeral(gate: ApprovalGate, click: Click, text: str) -> None:
    gate.slack.respond(click.response_url, {"response_type": "ephemeral", "replace_original": False, "text": text})


def _replace(gate: ApprovalGate, click: Click, record: dict[str, Any], status_text: str, *, buttons: bool) -> None:
    text, blocks = _message(record, status_text, buttons=buttons)
    gate.slack.respond(click.response_url, {"replace_original": True, "text": text, "blocks": blocks})


def _status_text(record: dict[str, Any]) -> str:
    status = record.get("status")
    decisions = list(record.get("decisions", []))
    if status == APPROVED:
        approvals = [d for d in decisions if d.get("decision") == "approve"]
        at = approvals[-1]["at"] if approvals else record.get("updated_at", "")
        return f"approved by {_users_ref([d['user'] for d in approvals])} at {at}"
    if status == REJECTED:
        rejects = [d for d in decisions if d.get("decision") == "rejected"]
        who = _users_ref([d["user"] for d in rejects]) if rejects else "someone"
        return f"rejected by {who}"
    if status == EXPIRED:
        return "expired"
    if status in (SUPERSEDED, VOID):
        return f"void ({record.get('reason', 'superseded')})"
    return str(status).lower()


def _allowed(gate: ApprovalGate, record: dict[str, Any], user: str) -> bool:
    if user in record.get("approvers_users", []):
        return True
    for group in record.get("approvers_groups", []):
        try:
            members = gate.slack.usergroup_members(group)
        except SlipwayError as exc:
            _log().warning("could not read a Slack user group", extra={"group": group, "problem": str(exc)})
            continue
        if user in members:
            return True
    return False


def decide(gate: ApprovalGate, click: Click) -> str:
    """Apply one authenticated click. Returns what happened (for logs and tests): approved, pending, rejected,
    or ``refused:<why>``."""
    if not APPROVAL_ID_PATTERN.fullmatch(click.approval_id):
        _ephemeral(gate, click, "This button does not belong to a slipway approval I know.")
        return "refused:unknown"
    for _ in range(DECISION_ATTEMPTS):
        try:
            return _decide_once(gate, click)
        except DecisionConflict:
            continue  # someone else wrote first: read again and decide on what is there now
    _ephemeral(gate, click, "Too many people clicked at once; please try again.")
    return "refused:busy"


def _decide_once(gate: ApprovalGate, click: Click) -> str:
    record = gate.store.get(click.approval_id)
    if record is None:
        _ephemeral(gate, click, "This approval request no longer exists.")
        return "refused:unknown"
    _observe_record(record)
    if record.get("status") != PENDING:
        _ephemeral(gate, click, f"Nothing to do: this approval was already {_status_text(record)}.")
        return "refused:decided"
    now = gate.clock()
    now_epoch = int(now.timestamp())
    at = now.isoformat(timespec="seconds")
    if int(record["expiry"]) <= now_epoch:
        with contextlib.suppress(DecisionConflict):  # someone else closed it first
            gate.store.finish(record, status=EXPIRED, at=at, now_epoch=None, reason="nobody approved in time")
        _replace(gate, click, record, EXPIRED_TEXT, buttons=False)
        _ephemeral(gate, click, "Too late: this approval has expired.")
        return "refused:expired"
    if record.get("kind") == "stepfunctions":
        current = gate.store.current_plan_hash(record["release_id"], record["environment"])
        if current != record.get("plan_hash"):
            reason = "the plan changed after this approval was requested"
            _close(gate, record["approval_id"], status=VOID, text=f"Void: {reason}", fail_task=True, reason=reason)
            _ephemeral(gate, click, f"Refused: {reason}. A new approval request will follow if the release goes on.")
            return "refused:plan_changed"
    if not _allowed(gate, record, click.user):
        _ephemeral(
            gate, click, f"Refused: you are not an approver for {record.get('pipeline')} → {record.get('environment')}."
        )
        return "refused:not_allowed"
    if click.action == REJECT_ACTION:
        return _reject(gate, click, record, at=at, now_epoch=now_epoch)
    if record.get("pushed_by") and not record.get("allow_pusher") and click.user == record["pushed_by"]:
        _ephemeral(gate, click, "Refused: you pushed this image, so someone else must approve it.")
        return "refused:pusher"
    approved = list(record.get("approved_by", []))
    if click.user in approved:
        _ephemeral(gate, click, f"You already approved this; {_pending_text(record).split('; ')[-1]}.")
        return "refused:already_approved"
    required = int(record.get("required", 1))
    complete = len(approved) + 1 >= required
    gate.store.add_approval(
        record, user=click.user, at=at, now_epoch=now_epoch, new_status=APPROVED if complete else PENDING
    )
    record["approved_by"] = [*approved, click.user]
    record["decisions"] = [*record.get("decisions", []), {"user": click.user, "at": at, "decision": "approve"}]
    if not complete:
        _replace(gate, click, record, _pending_text(record), buttons=True)
        _audit_decision(gate, record, click.user, "approve", at, complete=False)
        return "pending"
    return _approve(gate, click, record, at)


def _approve(gate: ApprovalGate, click: Click, record: dict[str, Any], at: str) -> str:
    approvers = list(record["approved_by"])
    decisions = [{"user": d["user"], "at": d["at"]} for d in record["decisions"] if d.get("decision") == "approve"]
    text = f":white_check_mark: Approved by {_users_ref(approvers)} at {at}"
    try:
        if record.get("kind") == "codepipeline":
            gate.codepipeline.put_result(
                record["codepipeline"], True, f"Approved in Slack by {', '.join(approvers)} at {at}"
            )
        else:
            gate.tasks.succeed(record["task_token"], {"approved_by": approvers, "decisions": decisions})
    except TokenNoLongerValid as exc:
        _replace(gate, click, record, f"{text}, but it came too late: {exc}", buttons=False)
        _ephemeral(gate, click, f"Your approval was recorded, but {exc}.")
        _audit_decision(gate, record, click.user, "approve", at, complete=True, problem=str(exc))
        return "refused:token_gone"
    _replace(gate, click, record, text, buttons=False)
    _audit_decision(gate, record, click.user, "approve", at, complete=True)
    _emit_wait(record, at)
    _log().info("approval granted", extra={"approval_id": record["approval_id"], "approved_by": approvers})
    return "approved"


def _reject(gate: ApprovalGate, click: Click, record: dict[str, Any], *, at: str, now_epoch: int) -> str:
    gate.store.finish(
        record, status=REJECTED, at=at, now_epoch=now_epoch, user=click.user, reason=f"rejected by {click.user}"
    )
    text = f":x: Rejected by <@{click.user}> at {at}"
    try:
        if record.get("kind") == "codepipeline":
            gate.codepipeline.put_result(record["codepipeline"], False, f"Rejected in Slack by {click.user} at {at}")
        else:
            gate.tasks.fail(record["task_token"], "Rejected", f"Rejected by <@{click.user}> at {at}")
    except TokenNoLongerValid as exc:
        _replace(gate, click, record, f"{text}, but it came too late: {exc}", buttons=False)
        _ephemeral(gate, click, f"Your rejection was recorded, but {exc}.")
        _audit_decision(gate, record, click.user, "reject", at, complete=True, problem=str(exc))
        return "refused:token_gone"
    _replace(gate, click, record, text, buttons=False)
    _audit_decision(gate, record, click.user, "reject", at, complete=True)
    _emit_wait(record, at)
    _log().info("approval rejected", extra={"approval_id": record["approval_id"], "user": click.user})
    return "rejected"


def _audit_decision(
    gate: ApprovalGate,
    record: dict[str, Any],
    user: str,
    decision: str,
    at: str,
    *,
    complete: bool,
    problem: str | None = None,
) -> None:
    if record.get("kind") != "stepfunctions":
        return
    gate.audit.event(
        record["release_id"],
        "approval_decision",
        record["environment"],
        approval_id=record["approval_id"],
        user=user,
        decision=decision,
        at=at,
        complete=complete,
        problem=problem,
    )


# ====================================================================== closing what is left
def _close(
    gate: ApprovalGate,
    approval_id: str,
    *,
    status: str,
    text: str,
    fail_task: bool,
    reason: str | None = None,
    error: str = "Superseded",
) -> bool:
    """PENDING -> status; optionally fail the waiting task; update the Slack message. False if not pending."""
    record = gate.store.get(approval_id)
    if record is None or record.get("status") != PENDING:
        return False
    now = gate.clock()
    try:
        gate.store.finish(
            record, status=status, at=now.isoformat(timespec="seconds"), now_epoch=None, reason=reason or text
        )
    except DecisionConflict:
        return False
    if fail_task and record.get("kind") == "stepfunctions":
        with contextlib.suppress(TokenNoLongerValid):  # the execution already stopped waiting
            gate.tasks.fail(record["task_token"], error, text)
    if record.get("channel_id") and record.get("message_ts"):
        message, blocks = _message(record, text, buttons=False)
        try:
            gate.slack.update_message(record["channel_id"], record["message_ts"], message, blocks)
        except SlipwayError as exc:
            _log().warning(
                "could not update the approval message", extra={"approval_id": approval_id, "problem": str(exc)}
            )
    return True


def _gate_from(value: ApprovalGate | Runtime | None) -> ApprovalGate:
    """Callers pass the gate, the function's Runtime (the release flow does), or nothing."""
    if isinstance(value, ApprovalGate):
        return value
    if value is None:
        return default_gate()
    from slipway.adapters.approvals import build_gate

    return build_gate(value)


def void_approvals_for_release(gate: ApprovalGate | Runtime | None = None, *, release_id: str, reason: str) -> int:
    """A newer release replaced ``release_id``: fail its waiting approvals with ``Superseded`` and say so in Slack.

    ``reason`` names the newer release ("release web-app-1f2e… (sha256:…)"); a leading "Superseded by " is not
    repeated. Returns how many were voided.
    """
    gate = _gate_from(gate)
    reason = reason.removeprefix("Superseded by ").removeprefix("superseded by ")
    voided = 0
    for approval_id in gate.store.approval_ids_for_release(release_id):
        if _close(
            gate,
            approval_id,
            status=SUPERSEDED,
            text=f":arrow_right_hook: Superseded by {_escape(reason)}",
            fail_task=True,
            reason=f"superseded by {reason}",
            error="Superseded",
        ):
            voided += 1
    return voided


def expire_approvals_for_release(gate: ApprovalGate | Runtime | None = None, *, release_id: str) -> int:
    """The approval task timed out (error ``Expired``): mark the records and messages Expired. Returns the count."""
    gate = _gate_from(gate)
    expired = 0
    for approval_id in gate.store.approval_ids_for_release(release_id):
        if _close(
            gate,
            approval_id,
            status=EXPIRED,
            text=EXPIRED_TEXT,
            fail_task=False,
            reason="nobody approved in time",
        ):
            expired += 1
    return expired

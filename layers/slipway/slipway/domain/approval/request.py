"""RequestApproval (a ``.waitForTaskToken`` task): store the approval record with the task token, then post the
Block Kit message. A click completes the token (``slipway.domain.approval.decide``). With ``approval.stage:
after_test_traffic`` the same request comes from ECS's ``ECS Hook State Change`` event (or CodeDeploy's READY
state) instead, and the click answers the held deployment. Who pushed the image, and the
approvals that leaves needed, come from ``slipway.domain.approval.pusher``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from slipway.domain.approval.close import close_approval
from slipway.domain.approval.messages import (
    action_blocks,
    escape,
    pending_text,
    release_blocks,
    status_block,
    users_ref,
)
from slipway.domain.approval.ports import ApprovalGate
from slipway.domain.approval.pusher import Pushers, pushers_of, required_approvals
from slipway.domain.image_facts import recorded_release
from slipway.errors import ApprovalExists, ConfigError
from slipway.models.config import Pipeline
from slipway.models.events import HOOK_AWAITING_ACTION, CodeDeployStateChangeEvent, EcsHookStateChangeEvent
from slipway.models.payloads import RequestApprovalInput
from slipway.models.records import ApprovalRecord, ApprovalStatus, AuditKind, DeploymentHook, PausedDeployment
from slipway.models.release import Plan, Release, sha256_hex
from slipway.observability import logger

RECORD_RETENTION = timedelta(days=7)  # the record outlives its expiry so a late click still reads "Expired"


def channel_for(pipeline: Pipeline, environment: str) -> str:
    env = pipeline.environment(environment)
    channel = env.slack_channel or pipeline.slack_channel
    if not channel:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} needs an approval but names no Slack "
            "channel: set slack_channel on the environment or the pipeline"
        )
    return channel


def _pushed_by_text(pushers: Pushers) -> str:
    """The message's "Pushed by": the Slack users, else the automation or unknown principals, else unknown."""
    if pushers.users:
        return users_ref(pushers.users)
    if pushers.principals:
        return escape(", ".join(p.rsplit(":", 1)[-1] for p in pushers.principals))[:200]
    return "unknown"


def _deploys_with(target: str, plan: Plan, hook: DeploymentHook | None) -> str:
    """Where it deploys; after test traffic, also that the new revision already serves test traffic, and where."""
    if hook is None:
        return target
    where = f" at {plan.test_url}" if plan.test_url else ""
    return (
        f"{target}: the new revision serves *test traffic*{where}; production has not moved. Approve moves "
        "production traffic, reject rolls back"
    )


def on_approval_request(gate: ApprovalGate, request: BaseModel) -> dict[str, Any]:
    """The RequestApproval function's three inputs: the state machine's task (approve before deploying), ECS's
    hook event or CodeDeploy's READY state (approve after test traffic)."""
    if isinstance(request, EcsHookStateChangeEvent):
        return request_test_traffic_approval(gate, request)
    if isinstance(request, CodeDeployStateChangeEvent):
        return request_ready_approval(gate, request)
    if isinstance(request, RequestApprovalInput):
        logger.append_keys(environment=request.environment)
        return request_approval(gate, request)
    raise TypeError(f"not an approval request: {type(request).__name__}")


def request_approval(gate: ApprovalGate, task: RequestApprovalInput) -> dict[str, Any]:
    """Store the record (with the task token) and post the approval message."""
    return _request(gate, task.release, task.plan, task.environment, task_token=task.task_token)


def request_test_traffic_approval(gate: ApprovalGate, event: EcsHookStateChangeEvent) -> dict[str, Any]:
    """``ECS Hook State Change``: a deployment paused at slipway's hook (the new revision serves test traffic).
    Ask for the approval of the environment whose lock holder's deployment waits there; the decision answers the
    hook (``ContinueServiceDeployment``) instead of a task token. Anything else is ignored."""
    service = event.service
    if event.detail.event_name != HOOK_AWAITING_ACTION or service is None:
        return {"ignored": True, "reason": f"event {event.detail.event_name}"}
    cluster, name = service
    for pipeline in gate.config().pipelines.values():
        for env in pipeline.environments:
            if not (
                env.deployment.type == "ecs"
                and env.approval.stage == "after_test_traffic"
                and env.service == name
                and env.cluster.rsplit("/", 1)[-1] == cluster
            ):
                continue
            paused = gate.hooks.paused(pipeline.name, env.name)
            if paused is None:
                continue
            return _ask_once(gate, paused)
    logger.info("ignoring a hook slipway is not waiting at", extra={"resources": event.resources})
    return {"ignored": True, "reason": "no slipway deployment waits at an approval hook of this service"}


def request_ready_approval(gate: ApprovalGate, event: CodeDeployStateChangeEvent) -> dict[str, Any]:
    """CodeDeploy's ``READY`` state: slipway's deployment waits in the deployment group's ready wait (the
    replacement task set serves test traffic). Ask the approval of its environment when that environment approves
    after test traffic; the decision continues or stops the deployment."""
    deployment_id = event.detail.deployment_id
    if event.detail.state != "READY":
        return {"ignored": True, "deployment_id": deployment_id, "reason": f"state {event.detail.state}"}
    paused = gate.hooks.ready(deployment_id)
    if paused is None:
        return {"ignored": True, "deployment_id": deployment_id, "reason": "not a slipway deployment waiting"}
    token = paused.token
    env = gate.config().pipeline(token.release.pipeline).environment(token.environment)
    if env.approval.stage != "after_test_traffic":
        return {"ignored": True, "deployment_id": deployment_id, "reason": "its approval comes before deploying"}
    return _ask_once(gate, paused)


def _ask_once(gate: ApprovalGate, paused: PausedDeployment) -> dict[str, Any]:
    """One approval per held deployment, whatever EventBridge redelivers: its id comes from the hook (a conditional
    put refuses a second record)."""
    token, hook = paused.token, paused.hook
    approval_id = sha256_hex(f"{hook.deployment_id}#{hook.hook_id}")[:32]
    try:
        return _request(gate, token.release, token.plan, token.environment, hook=hook, approval_id=approval_id)
    except ApprovalExists:
        return {"ignored": True, "approval_id": approval_id, "reason": "already requested for this hook"}


def _request(
    gate: ApprovalGate,
    task_release: Release,
    plan: Plan,
    environment: str,
    *,
    task_token: str | None = None,
    hook: DeploymentHook | None = None,
    approval_id: str | None = None,
) -> dict[str, Any]:
    # Every tag and the commit PrepareEnvironment recorded (the execution input only has the pushed tag).
    record_of_release = gate.audit.release(task_release.release_id)
    release = recorded_release(task_release, record_of_release)
    pipeline = gate.config().pipeline(release.pipeline)
    env = pipeline.environment(environment)
    policy = env.approval
    if not policy.approvers.users and not policy.approvers.groups:
        raise ConfigError(
            f"pipeline {pipeline.name!r} environment {environment!r} needs an approval (required, or forced by the "
            "scan gate) but names no approvers: add approval.approvers.users or approval.approvers.groups"
        )
    channel = channel_for(pipeline, environment)

    now = gate.clock()
    expiry = now + timedelta(seconds=plan.approval_timeout_seconds)
    names = pipeline.environment_names()
    earlier = [
        (name, gate.audit.environment_result(release.release_id, name)) for name in names[: names.index(environment)]
    ]
    pushers = pushers_of(release, gate.pushers.principals(release.repository, release.digest), gate.config().people)
    required, pusher_note = required_approvals(policy, pushers)
    if record_of_release is not None:
        gate.audit.set_release_fields(
            release.release_id, pusher_principals=pushers.principals, pushed_by_users=pushers.users
        )
    approval_id = approval_id or gate.new_id()
    summary = release_blocks(
        release=release,
        plan=plan,
        environment=environment,
        policy=policy,
        expiry=expiry,
        earlier=earlier,
        approval_id=approval_id,
        deploys_with=_deploys_with(gate.deployment_target(env, plan), plan, hook),
        required=required,
        pushed_by=_pushed_by_text(pushers),
        pusher_note=pusher_note,
    )
    record = ApprovalRecord(
        approval_id=approval_id,
        kind="stepfunctions",
        status=ApprovalStatus.PENDING,
        pipeline=release.pipeline,
        environment=environment,
        requested_at=now.isoformat(),
        expiry=int(expiry.timestamp()),
        expires_at=int((expiry + RECORD_RETENTION).timestamp()),
        required=required,
        approvers_users=list(policy.approvers.users),
        approvers_groups=list(policy.approvers.groups),
        allow_pusher=policy.allow_pusher,
        channel=channel,
        title=f"Approval needed: {release.pipeline} → {environment} ({release.digest[:19]}…)",
        summary_blocks=json.dumps(summary),
        task_token=task_token,
        deployment_hook=hook,
        release_id=release.release_id,
        digest=release.digest,
        plan_hash=plan.plan_hash,
        pushed_by=pushers.users[0] if pushers.users else release.pushed_by,
        pushers=pushers.users,
    )
    replaced = gate.store.create(record)
    if replaced:
        close_approval(
            gate, replaced, status=ApprovalStatus.VOID, text="Replaced by a newer approval request", fail_task=False
        )
    channel_id, ts = gate.slack.post_message_in(
        channel, record.title, [*summary, status_block(pending_text(record)), *action_blocks(approval_id)]
    )
    gate.store.set_message(approval_id, channel_id, ts)
    gate.audit.event(
        release.release_id,
        AuditKind.APPROVAL_REQUESTED,
        environment,
        approval_id=approval_id,
        channel=channel_id,
        message_ts=ts,
        expires=expiry.isoformat(),
        required=required,
        approvers=[*policy.approvers.users, *policy.approvers.groups],
        plan_hash=plan.plan_hash,
        pushers=pushers.users,
        pusher_unknown=pusher_note is not None,
    )
    logger.info(
        "approval requested",
        extra={"release_id": release.release_id, "environment": environment, "approval_id": approval_id},
    )
    return {"approval_id": approval_id, "channel": channel_id, "ts": ts, "expires_at": expiry.isoformat()}

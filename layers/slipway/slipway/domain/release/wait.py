"""Waiting for a deployment: its state-change event completes the Deploy task; if the event never comes, the
state machine's timeout asks once (``check_deployment``). Either way ``complete_deployment`` records the outcome,
releases the lock and, after the last environment, records the release SUCCEEDED."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from slipway.domain.release.gates import environment_of, pipeline_of, short_digest
from slipway.domain.release.ports import Deployer, ReleaseDeps
from slipway.errors import DeploymentFailed, DeploymentTimedOut, TokenNoLongerValid
from slipway.models.events import CodeDeployStateChangeEvent
from slipway.models.payloads import CheckDeploymentInput, CheckDeploymentRequest
from slipway.models.records import DeploymentInfo, DeploymentToken
from slipway.models.release import Release
from slipway.observability import LEAD_TIME_SECONDS, emit, emit_release_status, logger, set_release_context

EVENT_STATUS = {"SUCCESS": "SUCCEEDED", "FAILURE": "FAILED", "STOP": "STOPPED"}


def failure_cause(info: DeploymentInfo, environment: str) -> str:
    """What a person needs: which deployment, why, and what the automatic rollback did."""
    reason = ": ".join(p for p in (info.error_code, info.error_message) if p) or "no error information"
    text = f"{info.kind} deployment {info.deployment_id} to {environment} ended {info.status.upper()} ({reason})."
    if info.rollback_id or info.rollback_message:
        text += " Automatic rollback"
        if info.rollback_id:
            text += f" {info.rollback_id}"
        text += f": {info.rollback_message or 'started'}."
    else:
        text += " No automatic rollback ran; the previous revision keeps serving only if traffic never shifted."
    return text


def _environments_of(deps: ReleaseDeps, token: DeploymentToken) -> list[str]:
    if token.environments:
        return token.environments
    record = deps.audit.release(token.release.release_id)
    if record is not None and record.environments:
        return record.environments
    return pipeline_of(deps, token.release).environment_names()


def _deployer_of(deps: ReleaseDeps, token: DeploymentToken) -> Deployer:
    env, _ = environment_of(pipeline_of(deps, token.release), token.environment)
    return deps.deployer(env)


def complete_deployment(
    deps: ReleaseDeps, token: DeploymentToken, status: str, info: DeploymentInfo | None = None
) -> dict[str, Any]:
    """Record an environment's outcome (shared by the event and the timeout check); release its lock."""
    release, plan, environment = token.release, token.plan, token.environment
    deployment_id = token.deployment_id
    pipeline = pipeline_of(deps, release)
    result: dict[str, Any] = {"deployment_id": deployment_id, "environment": environment}
    if status == "SUCCEEDED":
        deps.audit.environment_finished(
            release,
            environment,
            "SUCCEEDED",
            plan_hash=plan.plan_hash,
            task_definition_arn=plan.task_definition_arn,
            deployment_id=deployment_id,
        )
        deps.state.release_lock(pipeline.name, environment, release.release_id)
        environments = _environments_of(deps, token)
        last = environment == environments[-1]
        image = f"{release.repository}@{short_digest(release.digest)}"
        if last:
            deps.audit.release_finished(release.release_id, "SUCCEEDED")
            _emit_release_succeeded(deps, release)
            text = f"Release {release.release_id} SUCCEEDED: {image} is live in {', '.join(environments)}."
        else:
            following = environments[environments.index(environment) + 1 :] if environment in environments else []
            kind = info.kind if info else _deployer_of(deps, token).kind
            text = f"{image} is live in *{environment}* ({kind} {deployment_id})."
            if following:
                text += f" Next: {following[0]}."
        deps.notifier.notice(release, pipeline.slack_channel, text)
        result.update(status="SUCCEEDED", release_finished=last)
        return result

    cause = failure_cause(info, environment) if info else f"deployment {deployment_id} {status}"
    deps.audit.environment_finished(
        release,
        environment,
        "FAILED",
        plan_hash=plan.plan_hash,
        task_definition_arn=plan.task_definition_arn,
        deployment_id=deployment_id,
        cause=cause,
    )
    deps.state.release_lock(pipeline.name, environment, release.release_id)
    deps.notifier.notice(release, pipeline.slack_channel, f":x: {environment} failed. {cause}")
    result.update(status="FAILED", cause=cause)
    return result


def _emit_release_succeeded(deps: ReleaseDeps, release: Release) -> None:
    """``ReleasesSucceeded`` and ``LeadTimeSeconds`` (change time -> now, the production success; see dora)."""
    from slipway.domain.dora import change_time  # only here: the other tasks never need it

    emit_release_status("SUCCEEDED")
    changed, source = change_time(deps.audit.release(release.release_id), release)
    if changed is None:
        logger.warning("no change time recorded: LeadTimeSeconds not emitted", extra={"release_id": release.release_id})
        return
    seconds = max((deps.state.now() - changed).total_seconds(), 0.0)
    emit(LEAD_TIME_SECONDS, seconds)
    logger.info("release succeeded", extra={"lead_time_seconds": seconds, "change_time_source": source})


def on_deployment_event(deps: ReleaseDeps, event: CodeDeployStateChangeEvent) -> dict[str, Any]:
    """A deployment's state changed: complete the waiting Deploy task when it ended."""
    deployment_id, state = event.detail.deployment_id, event.detail.state
    status = EVENT_STATUS.get(state)
    if status is None:
        logger.info("ignoring a non-final deployment state", extra={"deployment_id": deployment_id, "state": state})
        return {"ignored": True, "deployment_id": deployment_id, "reason": f"state {state}"}
    token = deps.state.deployment_token(deployment_id)
    if token is None:
        logger.info("ignoring a deployment slipway did not start", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "not a slipway deployment"}
    set_release_context(token.release.release_id, environment=token.environment)
    if token.completed_status:
        logger.info("deployment already completed", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "already completed"}

    info = None if status == "SUCCEEDED" else _deployer_of(deps, token).describe(deployment_id)
    result = complete_deployment(deps, token, status, info)
    try:
        if result["status"] == "SUCCEEDED":
            deps.tokens.succeed(token.task_token, {"deployment_id": deployment_id, "status": "SUCCEEDED"})
        else:
            deps.tokens.fail(token.task_token, "DeploymentFailed", str(result["cause"]))
    except TokenNoLongerValid as exc:
        logger.info(f"{exc}; the timeout check decides", extra={"deployment_id": deployment_id})
    deps.state.mark_deployment_completed(deployment_id, str(result["status"]))
    return result


def check_deployment(deps: ReleaseDeps, task: CheckDeploymentInput) -> dict[str, Any]:
    """The Deploy wait timed out: one look at the deployment decides, so a missed event cannot strand a release."""
    release, environment = task.release, task.environment
    recorded = deps.state.plan(release.release_id, environment)
    deployment_id = recorded.deployment_id if recorded else None
    if not deployment_id:
        raise DeploymentFailed(f"{environment}: no deployment was recorded for {release.release_id}")
    token = deps.state.deployment_token(deployment_id)
    if token is None:
        raise DeploymentFailed(f"{environment}: deployment {deployment_id} has no stored task record")
    info = _deployer_of(deps, token).describe(deployment_id)
    if info.running:
        raise DeploymentTimedOut(
            f"{info.kind} deployment {deployment_id} to {environment} is still {info.status} after "
            f"{token.plan.deployment_wait_seconds} s and no state-change event arrived"
        )
    if token.completed_status:  # the event arrived after all and recorded it
        if token.completed_status != "SUCCEEDED":
            raise DeploymentFailed(failure_cause(info, environment))
        return {"deployment_id": deployment_id, "environment": environment, "status": token.completed_status}
    result = complete_deployment(deps, token, "SUCCEEDED" if info.succeeded else "FAILED", info)
    deps.state.mark_deployment_completed(deployment_id, str(result["status"]))
    if result["status"] != "SUCCEEDED":
        raise DeploymentFailed(str(result["cause"]))
    return result


def on_deployment_wait(deps: ReleaseDeps, request: BaseModel) -> dict[str, Any]:
    """The DeploymentEvents function's two inputs: a state-change event, or the timeout's check request."""
    if isinstance(request, CheckDeploymentRequest):
        set_release_context(
            request.check_deployment.release.release_id, environment=request.check_deployment.environment
        )
        return check_deployment(deps, request.check_deployment)
    if isinstance(request, CodeDeployStateChangeEvent):
        return on_deployment_event(deps, request)
    raise TypeError(f"not a deployment event or check request: {type(request).__name__}")

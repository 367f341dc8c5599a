"""Waiting for a deployment: its state-change event completes the Deploy task; if the event never comes, the
state machine's timeout asks once (``check_deployment``). Either way the outcome is **claimed** first, one
conditional write on the deployment's token record (``StateStore.claim_completion``), so duplicate and concurrent
deliveries do not repeat audit rows, Slack notices or metrics; then ``complete_deployment`` records it, releases
the lock and, after the last environment, records the release SUCCEEDED; then the task token is completed and the
record marked ``recorded``. A delivery that finds the outcome claimed but not recorded (the claimer stopped half
way) does the idempotent part again (audit rows, lock, token), without the notice or the metrics it already sent.

A deployment still running when the wait times out is claimed ``TIMED_OUT``: the environment is recorded FAILED
and the release fails, but the lock stays with the deployment. Its own event, when it comes, is recorded as what it
is (``DEPLOYMENT_FINISHED_LATE``): the release's history is not rewritten, and the lock is released then.

The events themselves, CodeDeploy's and ECS's, are read in ``events.py``; both end here, in
``on_deployment_outcome``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from slipway.domain.release.gates import environment_of, pipeline_of, short_digest
from slipway.domain.release.ports import Deployer, ReleaseDeps
from slipway.errors import DeploymentFailed, DeploymentTimedOut, TokenNoLongerValid
from slipway.models.payloads import CheckDeploymentInput
from slipway.models.records import AuditKind, DeploymentInfo, DeploymentToken
from slipway.models.release import Release
from slipway.observability import LEAD_TIME_SECONDS, emit, emit_release_status, logger, set_release_context

TIMED_OUT = "TIMED_OUT"


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


def deployer_of(deps: ReleaseDeps, token: DeploymentToken) -> Deployer:
    env, _ = environment_of(pipeline_of(deps, token.release), token.environment)
    return deps.deployer(env, token.release.release_id)


def complete_deployment(
    deps: ReleaseDeps, token: DeploymentToken, status: str, info: DeploymentInfo | None = None, *, quiet: bool = False
) -> dict[str, Any]:
    """Record an environment's outcome (shared by the event and the timeout check); release its lock.

    Every write is idempotent; ``quiet`` (a delivery finishing what a claimer started) leaves out what must happen
    once: the Slack notice and the emitted metrics (ReleasesSucceeded, LeadTimeSeconds).
    """
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
            if not quiet:
                _emit_release_succeeded(deps, release)
            text = f"Release {release.release_id} SUCCEEDED: {image} is live in {', '.join(environments)}."
        else:
            following = environments[environments.index(environment) + 1 :] if environment in environments else []
            kind = info.kind if info else deployer_of(deps, token).kind
            text = f"{image} is live in *{environment}* ({kind} {deployment_id})."
            if following:
                text += f" Next: {following[0]}."
        if not quiet:
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
    if not quiet:
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


def failure_error(deps: ReleaseDeps, token: DeploymentToken) -> str:
    """The error a failed deployment ends its task with. After test traffic, the approval decided it: an approver's
    reject (ROLLBACK) makes the release REJECTED, a hook that timed out with nobody deciding EXPIRED."""
    if not token.plan.approval_after_test_traffic:
        return "DeploymentFailed"
    events = [e for e in deps.audit.events(token.release.release_id) if e.environment == token.environment]
    decisions = [str(e.data.get("decision")) for e in events if e.kind is AuditKind.APPROVAL_DECISION]
    if "reject" in decisions:
        return "Rejected"
    requested = [e for e in events if e.kind is AuditKind.APPROVAL_REQUESTED]
    if requested and "approve" not in decisions:
        with contextlib.suppress(ValueError):
            if datetime.fromisoformat(str(requested[-1].data.get("expires"))) <= deps.state.now():
                return "Expired"
    return "DeploymentFailed"


def tell_task(deps: ReleaseDeps, token: DeploymentToken, result: dict[str, Any]) -> None:
    """Complete the token's task with the outcome ``result`` records (its ``status``, a failure's ``cause``)."""
    try:
        if result["status"] == "SUCCEEDED":
            deps.tokens.succeed(token.task_token, {"deployment_id": token.deployment_id, "status": "SUCCEEDED"})
        else:
            deps.tokens.fail(token.task_token, failure_error(deps, token), str(result["cause"]))
    except TokenNoLongerValid as exc:
        logger.info(f"{exc}; the timeout check decides", extra={"deployment_id": token.deployment_id})


def finished_late(deps: ReleaseDeps, token: DeploymentToken, status: str, release_status: str) -> dict[str, Any]:
    """The deployment ended after its release had: record that as it is, release the lock the deployment kept, and
    say what now runs; the release's status and results stay as they were."""
    release, environment, deployment_id = token.release, token.environment, token.deployment_id
    pipeline = pipeline_of(deps, release)
    deps.audit.event(
        release.release_id,
        AuditKind.DEPLOYMENT_FINISHED_LATE,
        environment=environment,
        deployment_id=deployment_id,
        status=status,
        release_status=release_status,
    )
    released = deps.state.release_lock(pipeline.name, environment, release.release_id)
    runs = (
        f"{environment} now runs {token.plan.task_definition_arn.rsplit('/', 1)[-1]}"
        if status == "SUCCEEDED"
        else f"{environment} keeps what it ran before"
    )
    deps.notifier.notice(
        release,
        pipeline.slack_channel,
        f":warning: deployment {deployment_id} to {environment} ended {status} after release {release.release_id} "
        f"had ended {release_status}: the release stays {release_status}; {runs}.",
    )
    deps.state.mark_recorded(deployment_id)
    logger.warning(
        "a deployment ended after its release",
        extra={"deployment_id": deployment_id, "status": status, "release_status": release_status},
    )
    return {
        "deployment_id": deployment_id,
        "environment": environment,
        "status": status,
        "late": True,
        "lock_released": released,
    }


def record_outcome(deps: ReleaseDeps, token: DeploymentToken, status: str, *, quiet: bool) -> dict[str, Any]:
    """After the claim: the audit rows, the lock, the task token, then ``recorded``."""
    info = None if status == "SUCCEEDED" else deployer_of(deps, token).describe(token.deployment_id)
    result = complete_deployment(deps, token, status, info, quiet=quiet)
    tell_task(deps, token, result)
    deps.state.mark_recorded(token.deployment_id)
    return result


def on_deployment_outcome(deps: ReleaseDeps, deployment_id: str, status: str) -> dict[str, Any]:
    """A deployment ended ``status`` (SUCCEEDED, FAILED, STOPPED): claim and record it, complete the waiting task."""
    token = deps.state.deployment_token(deployment_id)
    if token is None:
        logger.info("ignoring a deployment slipway did not start", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "not a slipway deployment"}
    set_release_context(token.release.release_id, environment=token.environment)
    if token.recorded_at:
        logger.info("deployment already completed", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "already completed"}
    if token.completed_status == TIMED_OUT:
        return finished_late(deps, token, status, _release_status(deps, token))
    if deps.state.claim_completion(deployment_id, status):
        release_status = _release_status(deps, token)
        if release_status != "RUNNING":  # the release ended before its deployment (a task failed after creating it)
            return finished_late(deps, token, status, release_status)
        return record_outcome(deps, token, status, quiet=False)
    claimed = deps.state.deployment_token(deployment_id) or token
    if claimed.recorded_at:
        return {"ignored": True, "deployment_id": deployment_id, "reason": "already completed"}
    if claimed.completed_status == TIMED_OUT:
        return finished_late(deps, claimed, status, _release_status(deps, claimed))
    logger.info("another delivery claimed this outcome: finishing what it may have left", extra={"id": deployment_id})
    return record_outcome(deps, claimed, str(claimed.completed_status or status), quiet=True)


def _release_status(deps: ReleaseDeps, token: DeploymentToken) -> str:
    record = deps.audit.release(token.release.release_id)
    return record.status if record is not None else "RUNNING"


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
    info = deployer_of(deps, token).describe(deployment_id)
    if info.running and not token.completed_status:
        cause = (
            f"{info.kind} deployment {deployment_id} to {environment} is still {info.status} after "
            f"{token.plan.deployment_wait_seconds} s and no state-change event arrived"
        )
        if deps.state.claim_completion(deployment_id, TIMED_OUT):
            deps.audit.environment_finished(
                release,
                environment,
                "FAILED",
                plan_hash=token.plan.plan_hash,
                task_definition_arn=token.plan.task_definition_arn,
                deployment_id=deployment_id,
                cause=cause,
            )
            pipeline = pipeline_of(deps, release)
            deps.notifier.notice(
                release,
                pipeline.slack_channel,
                f":x: {environment} timed out. {cause}; {environment} stays locked until the deployment ends.",
            )
            raise DeploymentTimedOut(cause)
        token = deps.state.deployment_token(deployment_id) or token  # the event claimed it meanwhile
    if token.completed_status == TIMED_OUT:
        raise DeploymentTimedOut(f"{info.kind} deployment {deployment_id} to {environment} timed out")
    if not token.completed_status and deps.state.claim_completion(
        deployment_id, "SUCCEEDED" if info.succeeded else "FAILED"
    ):
        result = complete_deployment(deps, token, "SUCCEEDED" if info.succeeded else "FAILED", info)
        deps.state.mark_recorded(deployment_id)
        if result["status"] != "SUCCEEDED":
            raise DeploymentFailed(str(result["cause"]))
        return result
    claimed = deps.state.deployment_token(deployment_id) or token  # the event arrived after all and claimed it
    if not claimed.recorded_at:
        record_outcome(deps, claimed, str(claimed.completed_status), quiet=True)
    if claimed.completed_status != "SUCCEEDED":
        raise DeploymentFailed(failure_cause(info, environment))
    return {"deployment_id": deployment_id, "environment": environment, "status": claimed.completed_status}

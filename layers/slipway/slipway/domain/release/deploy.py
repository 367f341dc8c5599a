"""Deploy (a ``.waitForTaskToken`` task): start the plan's deployment, then park the task token under the
deployment id until its state-change event (``slipway.domain.release.wait``) completes it. No polling.

Retries never start a second deployment: the plan record is marked just before CreateDeployment, and a retry that
finds the mark but no deployment id looks the deployment up (``Deployer.find``). A retry that reuses a deployment
which has already ended records its outcome itself, since its event may have come before the token was stored."""

from __future__ import annotations

import dataclasses
from typing import Any

from slipway.domain.release.gates import (
    account_and_region,
    check_promotion,
    environment_of,
    pipeline_of,
    short_digest,
)
from slipway.domain.release.ports import Deployer, ReleaseDeps
from slipway.domain.release.wait import failure_cause, record_outcome, tell_task
from slipway.errors import PromotionRefused, Superseded
from slipway.models.payloads import StartDeploymentInput
from slipway.models.records import AuditKind, DeploymentToken, PlanRecord
from slipway.models.release import Plan
from slipway.observability import logger


def _finish_if_ended(deps: ReleaseDeps, deployer: Deployer, deployment_id: str) -> None:
    """A retried Deploy reused a deployment that may have ended while no task token was stored (its event found
    nothing to complete): record it now, so the task does not wait for an event that has come and gone."""
    info = deployer.describe(deployment_id)
    if info.running:
        return
    token = deps.state.deployment_token(deployment_id)
    if token is None or token.recorded_at:
        return
    status = "SUCCEEDED" if info.succeeded else "FAILED"
    if deps.state.claim_completion(deployment_id, status):
        record_outcome(deps, token, status, quiet=False)


def _earlier_deployment(deployer: Deployer, recorded: PlanRecord | None, plan: Plan, description: str) -> str | None:
    """The deployment an earlier try of Deploy created for this plan, if any. A try that got as far as
    CreateDeployment and stopped before recording the id is found by its description (CodeDeploy has no
    idempotency token), so a retry never starts a second deployment."""
    if recorded is None or recorded.plan_hash != plan.plan_hash:
        return None
    if recorded.deployment_id or not recorded.deploy_started_at:
        return recorded.deployment_id
    return deployer.find(plan, description=description)


def _own_ended_deployment(deps: ReleaseDeps, deployment_id: str | None, plan: Plan) -> DeploymentToken | None:
    """The earlier try's deployment, if its outcome is claimed: that try failed after storing the token, and the
    deployment's event then recorded the outcome and released the lock (which the next release may hold by now).
    The retry is then not superseded: its deployment has run."""
    token = deps.state.deployment_token(deployment_id) if deployment_id else None
    if token is None or token.release.release_id != plan.release_id or token.completed_status is None:
        return None
    return token


def _complete_retry(deps: ReleaseDeps, deployer: Deployer, ended: DeploymentToken, task_token: str) -> dict[str, Any]:
    """Complete this try's token with the outcome the deployment's event recorded (the earlier try's token is gone)."""
    logger.info(
        "the deployment of an earlier try has ended: completing this try with its outcome",
        extra={"deployment_id": ended.deployment_id, "status": ended.completed_status},
    )
    result: dict[str, Any] = {"deployment_id": ended.deployment_id, "status": ended.completed_status}
    if ended.completed_status != "SUCCEEDED":
        result["cause"] = failure_cause(deployer.describe(ended.deployment_id), ended.environment)
    tell_task(deps, dataclasses.replace(ended, task_token=task_token), result)
    return {"deployment_id": ended.deployment_id, "status": ended.completed_status}


def start_deployment(deps: ReleaseDeps, task: StartDeploymentInput) -> dict[str, Any]:
    """Start the deployment (once per plan, retries included) and store the task token under its id."""
    release, plan = task.release, task.plan
    pipeline = pipeline_of(deps, release)
    env, index = environment_of(pipeline, task.environment)
    if plan.release_id != release.release_id or plan.digest != release.digest or plan.environment != env.name:
        raise PromotionRefused(
            f"the plan given to Deploy ({plan.release_id}, {plan.environment}) is not this release's "
            f"({release.release_id}, {env.name})"
        )
    if not release.rollback_task_definition_arn:
        check_promotion(deps, pipeline, release, env.name, index)
    recorded = deps.state.plan(release.release_id, env.name)
    deployer = deps.deployer(env, release.release_id)
    description = f"slipway {release.release_id} -> {env.name}"
    if not deps.state.set_lock_phase(pipeline.name, env.name, release.release_id, "deploying"):
        ended = _own_ended_deployment(deps, _earlier_deployment(deployer, recorded, plan, description), plan)
        if ended is not None:
            return _complete_retry(deps, deployer, ended, task.task_token)
        lock = deps.state.lock(pipeline.name, env.name)
        holder = lock.holder if lock else "nobody"
        raise Superseded(
            f"Superseded by {holder}: {release.release_id} no longer holds the {env.name} lock, so it does not deploy"
        )
    if recorded is not None and recorded.plan_hash != plan.plan_hash:
        raise PromotionRefused(
            f"{env.name}: the plan changed since it was prepared ({recorded.plan_hash} != {plan.plan_hash})"
        )
    deployment_id = _earlier_deployment(deployer, recorded, plan, description)
    reused = deployment_id is not None
    if deployment_id:
        logger.info("deployment already created for this plan (retry)", extra={"deployment_id": deployment_id})
    else:
        deps.state.mark_deploy_started(release.release_id, env.name)
        deployment_id = deployer.start(plan, description=description)
    deps.state.put_deployment_token(
        deployment_id,
        task_token=task.task_token,
        release=release,
        environment=env.name,
        environments=list(task.environments),
        plan=plan,
    )
    if not (recorded and recorded.deployment_id == deployment_id):
        deps.state.set_plan_deployment(release.release_id, env.name, deployment_id)
    if reused:
        _finish_if_ended(deps, deployer, deployment_id)
    account, region = account_and_region(plan.task_definition_arn)
    deps.audit.event(
        release.release_id,
        AuditKind.DEPLOYMENT_STARTED,
        environment=env.name,
        deployment_id=deployment_id,
        task_definition_arn=plan.task_definition_arn,
        application=plan.application,
        deployment_group=plan.deployment_group,
        account=account,
        region=region,
    )
    deps.notifier.notice(
        release,
        pipeline.slack_channel,
        f"Deploying {release.repository}@{short_digest(release.digest)} to *{env.name}* in {account} / {region} "
        f"({deployer.kind} {deployment_id}, {plan.task_definition_arn.rsplit('/', 1)[-1]})",
    )
    return {"deployment_id": deployment_id}

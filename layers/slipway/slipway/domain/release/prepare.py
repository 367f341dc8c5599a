"""PrepareEnvironment: supersede check, promotion by digest, the ECR scan gate, the environment lock, then the
plan (render + register, or the verified-good revision of a rollback). Returns the Plan the next tasks use."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from slipway.domain.image_facts import learn_image_facts, recorded_release
from slipway.domain.release.gates import (
    check_newest,
    check_promotion,
    environment_of,
    pipeline_of,
    pull_registry,
    registry_id,
    scan_gate,
    take_lock,
)
from slipway.domain.release.ports import ReleaseDeps
from slipway.domain.release.rollback import rollback_plan, verified_good_result
from slipway.domain.render.plan import make_plan
from slipway.errors import Superseded
from slipway.models.config import Environment, Pipeline
from slipway.models.payloads import PrepareEnvironmentInput
from slipway.models.records import AuditKind
from slipway.models.release import Plan, Release
from slipway.observability import logger

LOCK_MARGIN = timedelta(hours=1)


def known_release(deps: ReleaseDeps, release: Release, index: int) -> Release:
    """The release with every known tag and the commit (see ``slipway.domain.image_facts``); looked up in ECR by
    the first environment only, once per release; later environments read what it recorded."""
    record = deps.audit.release(release.release_id)
    if index > 0:
        return recorded_release(release, record)
    if record is None:
        # The intake starts the execution first and writes the record second, so a crash between the two leaves
        # an execution without its record (a retry of the event is a duplicate). Write it here, idempotently.
        deps.audit.release_started(release, pipeline_of(deps, release).environment_names())
        record = deps.audit.release(release.release_id)
    return learn_image_facts(
        release,
        record,
        inspector=deps.images,
        audit=deps.audit,
        registry_id=registry_id(release.registry),
        at=deps.state.now().astimezone(UTC).isoformat(),
    )


def plan_for(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release) -> Plan:
    if release.rollback_task_definition_arn:
        return rollback_plan(deps, pipeline, env, release)
    registry = deps.registry_for(env, release.release_id)
    return make_plan(pipeline=pipeline, environment=env, release=release, source=deps.source, registry=registry)


def prepare_environment(deps: ReleaseDeps, task: PrepareEnvironmentInput) -> Plan:
    """The plan of ``task.environment`` (the state machine keeps it under ``$.prepared.plan``)."""
    release, environment = task.release, task.environment
    pipeline = pipeline_of(deps, release)
    env, index = environment_of(pipeline, environment)

    check_newest(deps, pipeline, release, environment)
    if release.rollback_task_definition_arn:
        verified_good_result(deps, pipeline, release, environment)
    else:
        check_promotion(deps, pipeline, release, environment, index)
    findings, force_approval = scan_gate(deps, env, release)
    pulled_from = pull_registry(deps, env, release)  # before the lock: waiting for replication holds nothing

    ttl = timedelta(minutes=env.approval.timeout_minutes + env.deployment.wait_timeout_minutes + 10) + LOCK_MARGIN
    take_lock(deps, pipeline, env, release, ttl)

    known = known_release(deps, release, index)
    plan = plan_for(deps, pipeline, env, known.model_copy(update={"registry": pulled_from}))
    if env.scan_gate is not None:
        plan = plan.model_copy(
            update={"scan_findings": findings or {}, "approval_required": plan.approval_required or force_approval}
        )
    phase = "awaiting_approval" if plan.approval_required else "ready_to_deploy"
    if not deps.state.set_lock_phase(pipeline.name, env.name, release.release_id, phase):
        raise Superseded(f"{release.release_id} lost the {environment} lock while preparing: a newer release took it")
    deps.state.put_plan(release.release_id, env.name, plan.plan_hash, plan.task_definition_arn)
    recorded: dict[str, Any] = plan.model_dump(mode="json", exclude={"release_id", "pipeline", "environment"})
    deps.audit.event(release.release_id, AuditKind.PLAN, environment=env.name, **recorded)
    logger.info(
        "environment prepared",
        extra={"release_id": release.release_id, "environment": env.name, "plan_hash": plan.plan_hash},
    )
    return plan

"""The release flow: what each task of ``statemachine/release.asl.json`` does for one environment.

- ``prepare_environment``: newest-release check (supersede), promotion by digest, the ECR scan gate, the
  environment lock, then the plan (render + register, or the verified-good revision of a rollback).
- ``start_deployment``: CodeDeploy ``CreateDeployment`` with ``AppSpecContent``; parks the task token.
- ``handle_deployment_event`` / ``check_deployment``: CodeDeploy's answer (event, or one GetDeployment after the
  wait timed out) -> ``complete_deployment`` records it, releases the lock and, after the last environment,
  records the release SUCCEEDED (the state machine has no separate success task).
- ``finalize_release``: any error of the Map -> REJECTED / EXPIRED / SUPERSEDED / FAILED, locks released.

Dependencies come in through ``ReleaseDeps`` (built by ``slipway.adapters.codedeploy.release_deps``); nothing
here talks to AWS directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from slipway.domain.image_facts import ImageInspector, learn_image_facts, recorded_release
from slipway.errors import (
    ConfigError,
    DeploymentFailed,
    DeploymentTimedOut,
    LockBusy,
    MalformedEvent,
    PromotionRefused,
    RenderError,
    Superseded,
    TransientError,
)
from slipway.models.config import Environment, Pipeline, SlipwayConfig
from slipway.models.release import Plan, Release, sha256_hex
from slipway.observability import LEAD_TIME_SECONDS, emit, emit_release_status, logger, set_release_context

if TYPE_CHECKING:
    from slipway.adapters.audit import AuditLog
    from slipway.adapters.codedeploy import CodeDeploy, DeploymentInfo, EcrScans, TaskTokens
    from slipway.adapters.locks import StateStore
    from slipway.domain.config import ConfigSource

SEVERITY_RANK = {"INFORMATIONAL": 0, "UNDEFINED": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
SCAN_PENDING = frozenset({"IN_PROGRESS", "PENDING"})
EVENT_STATUS = {"SUCCESS": "SUCCEEDED", "FAILURE": "FAILED", "STOP": "STOPPED"}
LOCK_MARGIN = timedelta(hours=1)
OUTCOME_BY_ERROR = {"Rejected": "REJECTED", "Expired": "EXPIRED", "Superseded": "SUPERSEDED"}


class Notifier(Protocol):
    """``slipway.domain.notify.ReleaseNotifier``: one Slack thread per release; never raises."""

    def notice(self, release: Release, channel: str | None, text: str) -> None: ...


@dataclass
class ReleaseDeps:
    config: Callable[[], SlipwayConfig]
    state: StateStore
    audit: AuditLog
    codedeploy: CodeDeploy
    scans: EcrScans
    tokens: TaskTokens
    source: ConfigSource
    notifier_factory: Callable[[], Notifier]
    registry_factory: Callable[[], Any]
    void_approvals: Callable[[str, str], int]
    """(release_id, reason) -> approvals voided; wraps ``slipway.domain.approval.void_approvals_for_release``."""
    expire_approvals: Callable[[str], int]
    """(release_id) -> approvals marked expired; wraps ``slipway.domain.approval.expire_approvals_for_release``."""
    images_factory: Callable[[], ImageInspector] | None = None
    """All tags / labels of the release's image (``slipway.adapters.ecr_images.EcrImages``); None: no lookup."""

    @cached_property
    def notifier(self) -> Notifier:
        return self.notifier_factory()


# ---------------------------------------------------------------------------------------------- helpers
def _pipeline(deps: ReleaseDeps, release: Release) -> Pipeline:
    try:
        return deps.config().pipeline(release.pipeline)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None


def _environment(pipeline: Pipeline, name: str) -> tuple[Environment, int]:
    try:
        env = pipeline.environment(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    return env, pipeline.environment_names().index(name)


def short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _order_key(deps: ReleaseDeps, release: Release) -> str:
    """How 'new' a release is: push time, else when its execution started, else now."""
    if release.pushed_at is not None:
        pushed = release.pushed_at if release.pushed_at.tzinfo else release.pushed_at.replace(tzinfo=UTC)
        return pushed.astimezone(UTC).isoformat()
    record = deps.audit.release(release.release_id)
    if record and record.get("started_at"):
        return str(record["started_at"])
    return deps.state.now().astimezone(UTC).isoformat()


def _registry_id(registry: str) -> str | None:
    account = registry.split(".", 1)[0]
    return account if account.isdigit() and len(account) == 12 else None


def _holder_is_live(deps: ReleaseDeps, holder_id: str) -> bool:
    """A lock whose holder's release has finished (crash, lost Catch) is stale: it must not block forever."""
    record = deps.audit.release(holder_id)
    return record is None or record.get("status", "RUNNING") == "RUNNING"


def check_promotion(deps: ReleaseDeps, pipeline: Pipeline, release: Release, environment: str, index: int) -> None:
    """Environment N may only receive the digest that SUCCEEDED in environment N-1 in this same release."""
    if index == 0:
        return
    previous = pipeline.environments[index - 1].name
    result = deps.audit.environment_result(release.release_id, previous)
    if result is None or result.get("status") != "SUCCEEDED":
        status = result.get("status") if result else "never deployed"
        raise PromotionRefused(
            f"{environment} refuses {pipeline.name}@{short_digest(release.digest)}: it has not succeeded in "
            f"{previous} in release {release.release_id} ({previous}: {status})"
        )
    if result.get("digest") != release.digest:
        raise PromotionRefused(
            f"{environment} refuses {pipeline.name}@{short_digest(release.digest)}: {previous} succeeded with a "
            f"different digest ({result.get('digest')})"
        )


def _verified_good_record(deps: ReleaseDeps, pipeline: Pipeline, release: Release, environment: str) -> dict[str, Any]:
    arn = release.rollback_task_definition_arn
    for record in deps.audit.verified_good(pipeline.name, environment, limit=100):
        if record.get("task_definition_arn") == arn and record.get("digest") == release.digest:
            return record
    raise PromotionRefused(
        f"rollback refused: {arn} with {short_digest(release.digest)} was never verified good in {environment} "
        f"of {pipeline.name}"
    )


def scan_gate(deps: ReleaseDeps, env: Environment, release: Release) -> tuple[dict[str, int] | None, bool]:
    """(counts for the plan, force approval). Refuses, or asks for approval, at or above the threshold."""
    gate = env.scan_gate
    if gate is None:
        return None, False
    status, counts = deps.scans.scan_counts(_registry_id(release.registry), release.repository, release.digest)
    image = f"{release.repository}@{short_digest(release.digest)}"
    if status in SCAN_PENDING:
        raise TransientError(f"the ECR scan of {image} is still {status}; {env.name} waits for its result")
    if status != "COMPLETE":
        problem = f"no completed ECR scan for {image} (scan status {status})"
        if gate.action == "refuse":
            raise PromotionRefused(f"{env.name} refuses {image}: {problem}")
        return counts, True
    floor = SEVERITY_RANK[gate.threshold]
    above = {sev: n for sev, n in counts.items() if n > 0 and SEVERITY_RANK.get(sev, 0) >= floor}
    if above and gate.action == "refuse":
        listed = ", ".join(f"{sev} {n}" for sev, n in sorted(above.items(), key=lambda kv: -SEVERITY_RANK[kv[0]]))
        raise PromotionRefused(
            f"{env.name} refuses {image}: the ECR scan found findings at or above {gate.threshold} ({listed})"
        )
    return counts, bool(above)


def _take_lock(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release, ttl: timedelta) -> str | None:
    """Acquire ``LOCK#<pipeline>#<env>``; returns the release whose waiting approval was voided, if any."""
    state = deps.state
    if state.acquire_lock(pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl):
        return None
    lock = state.lock(pipeline.name, env.name)
    if lock is None:  # released between our write and our read: try once more
        if state.acquire_lock(pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl):
            return None
        lock = state.lock(pipeline.name, env.name) or {}
    holder = str(lock.get("holder", "?"))
    phase = str(lock.get("phase", "?"))
    if not _holder_is_live(deps, holder):
        logger.warning("taking over a stale lock", extra={"holder": holder, "environment": env.name})
        if state.acquire_lock(
            pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl, replace_holder=holder
        ):
            return None
    elif pipeline.concurrency == "supersede" and phase == "awaiting_approval":
        # Recorded first: the older release's FinalizeRelease may run as soon as its approval is voided.
        deps.audit.event(holder, kind="superseded", environment=env.name, by=release.release_id)
        voided = deps.void_approvals(holder, f"Superseded by {release.release_id}")
        logger.info("superseded a release waiting for approval", extra={"holder": holder, "voided": voided})
        if state.acquire_lock(
            pipeline.name, env.name, release.release_id, phase="preparing", ttl=ttl, replace_holder=holder
        ):
            deps.audit.event(release.release_id, kind="superseded_release", environment=env.name, release=holder)
            return holder
    raise LockBusy(
        f"{env.name} of {pipeline.name} is held by release {holder} ({phase} since {lock.get('acquired_at')}); "
        f"{release.release_id} waits its turn"
    )


def _rollback_appspec(deps: ReleaseDeps, env: Environment, record: dict[str, Any], arn: str) -> str:
    """The AppSpec the verified-good release deployed (its audit 'plan' event), else one built from config."""
    for item in reversed(deps.audit.release_items(str(record.get("release_id")))):
        data = item.get("data") or {}
        if item.get("kind") == "plan" and item.get("environment") == env.name and data.get("appspec_content"):
            return str(data["appspec_content"])
    spec = env.appspec
    if spec.container_name and spec.container_port:
        lines = [
            "version: 0.0",
            "Resources:",
            "  - TargetService:",
            '      Type: "AWS::ECS::Service"',
            "      Properties:",
            f'        TaskDefinition: "{arn}"',
            "        LoadBalancerInfo:",
            f'          ContainerName: "{spec.container_name}"',
            f"          ContainerPort: {spec.container_port}",
        ]
        if spec.hooks:
            lines.append("Hooks:")
            lines.extend(f'  - {hook}: "{fn}"' for hook, fn in spec.hooks.items())
        return "\n".join(lines) + "\n"
    raise RenderError(
        f"rollback of {env.name}: no recorded AppSpec for release {record.get('release_id')} and "
        "appspec.container_name/container_port are not configured to build one"
    )


def _rollback_plan(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release) -> Plan:
    record = _verified_good_record(deps, pipeline, release, env.name)
    arn = str(release.rollback_task_definition_arn)
    appspec = _rollback_appspec(deps, env, record, arn)
    return Plan(
        release_id=release.release_id,
        pipeline=pipeline.name,
        environment=env.name,
        digest=release.digest,
        plan_hash=str(record.get("plan_hash") or sha256_hex(arn)),
        task_definition_arn=arn,
        reused_revision=True,
        appspec_content=appspec,
        appspec_sha256=sha256_hex(appspec),
        diff=[f"rollback to {arn}, verified good in {env.name} by release {record.get('release_id')}"],
        application=env.deployment.application,
        deployment_group=env.deployment.deployment_group,
        deployment_config=env.deployment.deployment_config,
        approval_required=env.approval.required,
        approval_timeout_seconds=env.approval.timeout_minutes * 60,
        deployment_wait_seconds=env.deployment.wait_timeout_minutes * 60,
    )


def _make_plan(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release) -> Plan:
    if release.rollback_task_definition_arn:
        return _rollback_plan(deps, pipeline, env, release)
    from slipway.domain.plan import make_plan  # the rendering part (issue 4)

    return make_plan(
        pipeline=pipeline, environment=env, release=release, source=deps.source, registry=deps.registry_factory()
    )


# ---------------------------------------------------------------------------------------------- prepare
def _known_release(deps: ReleaseDeps, release: Release, index: int) -> Release:
    """The release with every known tag and the commit (see ``slipway.domain.image_facts``); looked up in ECR by
    the first environment only, once per release; later environments read what it recorded."""
    record = deps.audit.release(release.release_id)
    if index > 0:
        return recorded_release(release, record)
    if record is None:
        # The intake starts the execution first and writes the record second, so a crash between the two leaves
        # an execution without its record (a retry of the event is a duplicate). Write it here, idempotently.
        deps.audit.release_started(release, _pipeline(deps, release).environment_names())
        record = deps.audit.release(release.release_id)
    return learn_image_facts(
        release,
        record,
        inspector=deps.images_factory,
        audit=deps.audit,
        registry_id=_registry_id(release.registry),
        at=deps.state.now().astimezone(UTC).isoformat(),
    )


def prepare_environment(deps: ReleaseDeps, release: Release, environment: str) -> dict[str, Any]:
    """PrepareEnvironment: returns the Plan as JSON (the state machine keeps it under ``$.prepared.plan``)."""
    pipeline = _pipeline(deps, release)
    env, index = _environment(pipeline, environment)

    if pipeline.concurrency == "supersede":
        newest = deps.state.record_latest(pipeline.name, release.release_id, _order_key(deps, release))
        if newest != release.release_id:
            raise Superseded(
                f"Superseded by {newest}: a newer release of {pipeline.name} replaced "
                f"{release.release_id} before {environment}"
            )
    if release.rollback_task_definition_arn:
        _verified_good_record(deps, pipeline, release, environment)
    else:
        check_promotion(deps, pipeline, release, environment, index)
    findings, force_approval = scan_gate(deps, env, release)

    ttl = timedelta(minutes=env.approval.timeout_minutes + env.deployment.wait_timeout_minutes + 10) + LOCK_MARGIN
    _take_lock(deps, pipeline, env, release, ttl)

    plan = _make_plan(deps, pipeline, env, _known_release(deps, release, index))
    if env.scan_gate is not None:
        plan = plan.model_copy(
            update={"scan_findings": findings or {}, "approval_required": plan.approval_required or force_approval}
        )
    phase = "awaiting_approval" if plan.approval_required else "ready_to_deploy"
    if not deps.state.set_lock_phase(pipeline.name, env.name, release.release_id, phase):
        raise Superseded(f"{release.release_id} lost the {environment} lock while preparing: a newer release took it")
    deps.state.put_plan(release.release_id, env.name, plan.plan_hash, plan.task_definition_arn)
    dumped = plan.model_dump(mode="json")
    recorded = {k: v for k, v in dumped.items() if k not in ("release_id", "pipeline", "environment")}
    deps.audit.event(release.release_id, kind="plan", environment=env.name, **recorded)
    logger.info(
        "environment prepared",
        extra={"release_id": release.release_id, "environment": env.name, "plan_hash": plan.plan_hash},
    )
    return dumped


# ---------------------------------------------------------------------------------------------- deploy
def start_deployment(
    deps: ReleaseDeps,
    *,
    task_token: str,
    release: Release,
    environment: str,
    plan: Plan,
    environments: list[str] | None = None,
) -> dict[str, Any]:
    """Deploy: CreateDeployment with the plan's AppSpec, then park the token until CodeDeploy answers."""
    pipeline = _pipeline(deps, release)
    env, index = _environment(pipeline, environment)
    if plan.release_id != release.release_id or plan.digest != release.digest or plan.environment != env.name:
        raise PromotionRefused(
            f"the plan given to Deploy ({plan.release_id}, {plan.environment}) is not this release's "
            f"({release.release_id}, {env.name})"
        )
    if not release.rollback_task_definition_arn:
        check_promotion(deps, pipeline, release, environment, index)
    if not deps.state.set_lock_phase(pipeline.name, env.name, release.release_id, "deploying"):
        holder = (deps.state.lock(pipeline.name, env.name) or {}).get("holder", "nobody")
        raise Superseded(
            f"Superseded by {holder}: {release.release_id} no longer holds the {env.name} lock, so it does not deploy"
        )
    recorded = deps.state.plan(release.release_id, env.name) or {}
    if recorded.get("plan_hash") not in (None, plan.plan_hash):
        raise PromotionRefused(
            f"{env.name}: the plan changed since it was prepared ({recorded.get('plan_hash')} != {plan.plan_hash})"
        )
    deployment_id = recorded.get("deployment_id")
    if deployment_id:
        logger.info("deployment already created for this plan (retry)", extra={"deployment_id": deployment_id})
    else:
        deployment_id = deps.codedeploy.create_deployment(
            application=plan.application,
            deployment_group=plan.deployment_group,
            appspec_content=plan.appspec_content,
            appspec_sha256=plan.appspec_sha256,
            deployment_config=plan.deployment_config,
            description=f"slipway {release.release_id} -> {env.name}",
        )
        deps.state.set_plan_deployment(release.release_id, env.name, deployment_id)
    deps.state.put_deployment_token(
        str(deployment_id),
        task_token=task_token,
        release=release.model_dump(mode="json"),
        environment=env.name,
        environments=list(environments or []),
        plan=plan.model_dump(mode="json"),
    )
    deps.audit.event(
        release.release_id,
        kind="deployment_started",
        environment=env.name,
        deployment_id=deployment_id,
        task_definition_arn=plan.task_definition_arn,
        application=plan.application,
        deployment_group=plan.deployment_group,
    )
    deps.notifier.notice(
        release,
        pipeline.slack_channel,
        f"Deploying {release.repository}@{short_digest(release.digest)} to *{env.name}* "
        f"(CodeDeploy {deployment_id}, {plan.task_definition_arn.rsplit('/', 1)[-1]})",
    )
    return {"deployment_id": deployment_id}


def failure_cause(info: DeploymentInfo, environment: str) -> str:
    """What a person needs: which deployment, why, and what the automatic rollback did."""
    reason = ": ".join(p for p in (info.error_code, info.error_message) if p) or "no error information"
    text = f"CodeDeploy deployment {info.deployment_id} to {environment} ended {info.status.upper()} ({reason})."
    rollback = info.rollback
    if rollback.get("rollbackDeploymentId") or rollback.get("rollbackMessage"):
        text += " Automatic rollback"
        if rollback.get("rollbackDeploymentId"):
            text += f" {rollback['rollbackDeploymentId']}"
        text += f": {rollback.get('rollbackMessage') or 'started'}."
    else:
        text += " No automatic rollback ran; the previous revision keeps serving only if traffic never shifted."
    return text


def _environments_of(deps: ReleaseDeps, item: dict[str, Any], release: Release) -> list[str]:
    environments = [str(e) for e in item.get("environments") or []]
    if environments:
        return environments
    record = deps.audit.release(release.release_id) or {}
    if record.get("environments"):
        return [str(e) for e in record["environments"]]
    return _pipeline(deps, release).environment_names()


def complete_deployment(
    deps: ReleaseDeps, item: dict[str, Any], status: str, info: DeploymentInfo | None = None
) -> dict[str, Any]:
    """Record an environment's outcome (shared by the event and the timeout check); release its lock.

    ``item`` is the DEPLOYMENT token item. After the last environment succeeds the release is SUCCEEDED.
    """
    release = Release.model_validate(item["release"])
    plan = Plan.model_validate(item["plan"])
    environment = str(item["environment"])
    deployment_id = str(item["pk"]).removeprefix("DEPLOYMENT#")
    pipeline = _pipeline(deps, release)
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
        environments = _environments_of(deps, item, release)
        last = environment == environments[-1]
        image = f"{release.repository}@{short_digest(release.digest)}"
        if last:
            deps.audit.release_finished(release.release_id, "SUCCEEDED")
            _emit_release_succeeded(deps, release)
            text = f"Release {release.release_id} SUCCEEDED: {image} is live in {', '.join(environments)}."
        else:
            following = environments[environments.index(environment) + 1 :] if environment in environments else []
            text = f"{image} is live in *{environment}* (CodeDeploy {deployment_id})."
            if following:
                text += f" Next: {following[0]}."
        deps.notifier.notice(release, pipeline.slack_channel, text)
        result.update(status="SUCCEEDED", release_finished=last)
        return result

    cause = failure_cause(info, environment) if info else f"CodeDeploy deployment {deployment_id} {status}"
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
    record = deps.audit.release(release.release_id) or {"release": release.model_dump(mode="json")}
    changed, source = change_time(record)
    if changed is None:
        logger.warning("no change time recorded: LeadTimeSeconds not emitted", extra={"release_id": release.release_id})
        return
    seconds = max((deps.state.now() - changed).total_seconds(), 0.0)
    emit(LEAD_TIME_SECONDS, seconds)
    logger.info("release succeeded", extra={"lead_time_seconds": seconds, "change_time_source": source})


def handle_deployment_event(deps: ReleaseDeps, event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge 'CodeDeploy Deployment State-change Notification' -> complete the waiting Deploy task."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("CodeDeploy state-change event has no 'detail' object")
    deployment_id = detail.get("deploymentId")
    state = detail.get("state")
    if not deployment_id or not state:
        raise MalformedEvent("CodeDeploy state-change event lacks detail.deploymentId or detail.state")
    status = EVENT_STATUS.get(str(state))
    if status is None:
        logger.info("ignoring a non-final deployment state", extra={"deployment_id": deployment_id, "state": state})
        return {"ignored": True, "deployment_id": deployment_id, "reason": f"state {state}"}
    item = deps.state.deployment_token(str(deployment_id))
    if item is None:
        logger.info("ignoring a deployment slipway did not start", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "not a slipway deployment"}
    release_data = item.get("release")
    if isinstance(release_data, dict):
        set_release_context(release_data.get("release_id"), environment=item.get("environment"))
    if item.get("completed_status"):
        logger.info("deployment already completed", extra={"deployment_id": deployment_id})
        return {"ignored": True, "deployment_id": deployment_id, "reason": "already completed"}

    info = None if status == "SUCCEEDED" else deps.codedeploy.get_deployment(str(deployment_id))
    result = complete_deployment(deps, item, status, info)
    token = str(item["task_token"])
    if result["status"] == "SUCCEEDED":
        deps.tokens.succeed(token, {"deployment_id": deployment_id, "status": "SUCCEEDED"})
    else:
        deps.tokens.fail(token, "DeploymentFailed", str(result["cause"]))
    deps.state.mark_deployment_completed(str(deployment_id), str(result["status"]))
    return result


def check_deployment(deps: ReleaseDeps, release: Release, environment: str) -> dict[str, Any]:
    """The Deploy wait timed out: one GetDeployment decides, so a missed event cannot strand the release."""
    recorded = deps.state.plan(release.release_id, environment) or {}
    deployment_id = recorded.get("deployment_id")
    if not deployment_id:
        raise DeploymentFailed(f"{environment}: no CodeDeploy deployment was recorded for {release.release_id}")
    item = deps.state.deployment_token(str(deployment_id))
    if item is None:
        raise DeploymentFailed(f"{environment}: deployment {deployment_id} has no stored task record")
    info = deps.codedeploy.get_deployment(str(deployment_id))
    if info.running:
        raise DeploymentTimedOut(
            f"CodeDeploy deployment {deployment_id} to {environment} is still {info.status} after "
            f"{item['plan'].get('deployment_wait_seconds')} s and no state-change event arrived"
        )
    status = "SUCCEEDED" if info.status == "Succeeded" else "FAILED"
    if item.get("completed_status"):  # the event arrived after all and recorded it
        result = {"deployment_id": deployment_id, "environment": environment, "status": item["completed_status"]}
        if result["status"] != "SUCCEEDED":
            raise DeploymentFailed(failure_cause(info, environment))
        return result
    result = complete_deployment(deps, item, status, info)
    deps.state.mark_deployment_completed(str(deployment_id), str(result["status"]))
    if result["status"] != "SUCCEEDED":
        raise DeploymentFailed(str(result["cause"]))
    return result


# ---------------------------------------------------------------------------------------------- finalize
def readable_cause(cause: str | None) -> str:
    """A Lambda error's Cause is JSON with errorMessage; SendTaskFailure and Fail states give plain text."""
    if not cause:
        return ""
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and data.get("errorMessage"):
        return str(data["errorMessage"])
    return cause


def outcome_for(error: dict[str, Any]) -> tuple[str, str]:
    name = str(error.get("Error") or "Unknown")
    message = readable_cause(error.get("Cause"))
    status = OUTCOME_BY_ERROR.get(name, "FAILED")
    if status == "FAILED":
        return status, f"{name}: {message}" if message else name
    return status, message or name


FALLBACK_CAUSE = {
    "REJECTED": "an approver rejected it",
    "EXPIRED": "nobody approved before the approval timed out",
    "SUPERSEDED": "a newer release of the pipeline replaced it",
}


def _recorded_cause(deps: ReleaseDeps, release: Release, status: str) -> str | None:
    """When the error arrived without a cause, what the audit trail says happened (failed environment, decision)."""
    items = deps.audit.release_items(release.release_id)
    if status == "FAILED":
        failed = [i for i in items if str(i.get("sk", "")).startswith("ENV#") and i.get("status") == "FAILED"]
        return str(failed[-1]["cause"]) if failed and failed[-1].get("cause") else None
    if status == "REJECTED":
        for item in reversed(items):
            data = item.get("data") or {}
            rejected = data.get("decision") in ("reject", "rejected")
            if item.get("kind") == "approval_decision" and rejected and data.get("user"):
                return f"Rejected by <@{data['user']}> at {data.get('at') or item.get('at')}"
    if status == "SUPERSEDED":
        for item in reversed(items):
            data = item.get("data") or {}
            if item.get("kind") == "superseded" and data.get("by"):
                return f"Superseded by {data['by']}"
    return FALLBACK_CAUSE.get(status)


def finalize_release(deps: ReleaseDeps, release: Release, error: dict[str, Any]) -> dict[str, str]:
    """The Map failed: decide the outcome, release every lock this release holds, record it, tell Slack."""
    status, cause = outcome_for(error)
    if not readable_cause(error.get("Cause")):
        recorded = _recorded_cause(deps, release, status)
        if recorded:
            cause = f"{error.get('Error')}: {recorded}" if status == "FAILED" else recorded
    try:
        pipeline: Pipeline | None = _pipeline(deps, release)
    except ConfigError:
        pipeline = None
    names = pipeline.environment_names() if pipeline else []
    record = deps.audit.release(release.release_id) or {}
    names += [str(e) for e in record.get("environments") or [] if e not in names]
    released = [env for env in names if deps.state.release_lock(release.pipeline, env, release.release_id)]
    if status == "EXPIRED":
        deps.expire_approvals(release.release_id)  # the Slack message says Expired, the record too
    deps.audit.release_finished(release.release_id, status, cause)
    if record.get("status") != status:  # a redelivered FinalizeRelease does not count the release twice
        emit_release_status(status)
    deps.audit.event(release.release_id, kind="release_finished", status=status, cause=cause, locks=released)
    icon = {"FAILED": ":x:", "REJECTED": ":no_entry:", "EXPIRED": ":hourglass:", "SUPERSEDED": ":fast_forward:"}
    deps.notifier.notice(
        release,
        pipeline.slack_channel if pipeline else None,
        f"{icon[status]} Release {release.release_id} {status}: {cause}",
    )
    logger.info("release finalized", extra={"release_id": release.release_id, "status": status, "cause": cause})
    return {"status": status, "cause": cause}


def rollback_release_id(pipeline: str, digest: str, now: datetime) -> str:
    """An execution name of its own for a rollback (the original release id is taken): <= 80 characters."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in pipeline)[:30]
    return f"{safe}-rb-{digest.removeprefix('sha256:')[:16]}-{now.astimezone(UTC).strftime('%Y%m%d%H%M%S')}"

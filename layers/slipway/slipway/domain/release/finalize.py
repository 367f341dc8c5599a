"""FinalizeRelease: the Map stopped with an error -> REJECTED, EXPIRED, SUPERSEDED or FAILED, with a readable
cause; every lock the release holds is released (except where CodeDeploy is still deploying: that lock stays with
the deployment until its own event), the audit trail and Slack are told."""

from __future__ import annotations

import json

from slipway.domain.release.gates import deployment_in_progress, pipeline_of
from slipway.domain.release.ports import ReleaseDeps
from slipway.errors import ConfigError
from slipway.models.config import Pipeline
from slipway.models.payloads import FinalizeReleaseInput, TaskError
from slipway.models.records import AuditKind
from slipway.models.release import Release
from slipway.observability import emit_release_status, logger

OUTCOME_BY_ERROR = {"Rejected": "REJECTED", "Expired": "EXPIRED", "Superseded": "SUPERSEDED"}
FALLBACK_CAUSE = {
    "REJECTED": "an approver rejected it",
    "EXPIRED": "nobody approved before the approval timed out",
    "SUPERSEDED": "a newer release of the pipeline replaced it",
}
ICONS = {"FAILED": ":x:", "REJECTED": ":no_entry:", "EXPIRED": ":hourglass:", "SUPERSEDED": ":fast_forward:"}


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


def outcome_for(error: TaskError) -> tuple[str, str]:
    name = error.error or "Unknown"
    message = readable_cause(error.cause)
    status = OUTCOME_BY_ERROR.get(name, "FAILED")
    if status == "FAILED":
        return status, f"{name}: {message}" if message else name
    return status, message or name


def recorded_cause(deps: ReleaseDeps, release: Release, status: str) -> str | None:
    """When the error arrived without a cause, what the audit trail says happened (failed environment, decision)."""
    if status == "FAILED":
        failed = [r for r in deps.audit.environment_results(release.release_id).values() if r.status == "FAILED"]
        return failed[-1].cause if failed and failed[-1].cause else None
    events = deps.audit.events(release.release_id)
    if status == "REJECTED":
        for event in reversed(events):
            data = event.data
            if event.kind is AuditKind.APPROVAL_DECISION and data.get("decision") == "reject" and data.get("user"):
                return f"Rejected by <@{data['user']}> at {data.get('at') or event.at}"
    if status == "SUPERSEDED":
        for event in reversed(events):
            if event.kind is AuditKind.SUPERSEDED and event.data.get("by"):
                return f"Superseded by {event.data['by']}"
    return FALLBACK_CAUSE.get(status)


def _deploying(deps: ReleaseDeps, pipeline: Pipeline, names: list[str], release: Release) -> dict[str, str]:
    """Environment -> deployment id, for each lock this release holds in phase ``deploying`` whose deployment
    CodeDeploy is still running: those locks stay until the deployment's own event (or their TTL) frees them."""
    kept: dict[str, str] = {}
    for env in names:
        lock = deps.state.lock(release.pipeline, env)
        if lock is None or lock.holder != release.release_id or lock.phase != "deploying":
            continue
        deployment_id = deployment_in_progress(deps, pipeline, env, release.release_id)
        if deployment_id:
            kept[env] = deployment_id
    return kept


def finalize_release(deps: ReleaseDeps, task: FinalizeReleaseInput) -> dict[str, str]:
    """The Map failed: decide the outcome, release every lock this release holds, record it, tell Slack."""
    release, error = task.release, task.error
    status, cause = outcome_for(error)
    if not readable_cause(error.cause):
        recorded = recorded_cause(deps, release, status)
        if recorded:
            cause = f"{error.error}: {recorded}" if status == "FAILED" else recorded
    try:
        pipeline: Pipeline | None = pipeline_of(deps, release)
    except ConfigError:
        pipeline = None
    names = pipeline.environment_names() if pipeline else []
    record = deps.audit.release(release.release_id)
    names += [e for e in (record.environments if record else []) if e not in names]
    kept = _deploying(deps, pipeline, names, release) if pipeline else {}
    released = [
        env for env in names if env not in kept and deps.state.release_lock(release.pipeline, env, release.release_id)
    ]
    if status == "EXPIRED":
        deps.approvals.expire(release.release_id)  # the Slack message says Expired, the record too
    deps.audit.release_finished(release.release_id, status, cause)
    if record is None or record.status != status:  # a redelivered FinalizeRelease does not count the release twice
        emit_release_status(status)
    deps.audit.event(
        release.release_id,
        AuditKind.RELEASE_FINISHED,
        status=status,
        cause=cause,
        locks=released,
        locks_kept=sorted(kept),
    )
    still = "".join(
        f" {env} stays locked until deployment {deployment_id} ends." for env, deployment_id in sorted(kept.items())
    )
    deps.notifier.notice(
        release,
        pipeline.slack_channel if pipeline else None,
        f"{ICONS[status]} Release {release.release_id} {status}: {cause}{still}",
    )
    logger.info("release finalized", extra={"release_id": release.release_id, "status": status, "cause": cause})
    return {"status": status, "cause": cause}

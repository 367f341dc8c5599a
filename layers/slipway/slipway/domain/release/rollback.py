"""Rollback: redeploy a revision that was verified good in an environment, as a release of its own.

``slipway rollback`` picks the target (``choose_target``), builds the release (``rollback_release``) and starts it
through the same intake as every other release; PrepareEnvironment then skips rendering and plans that exact
task definition revision (``rollback_plan``), which slipway never deregisters.
"""

from __future__ import annotations

from datetime import UTC, datetime

from slipway.domain.release.gates import short_digest
from slipway.domain.release.ports import ReleaseDeps
from slipway.domain.render.appspec import appspec_content, build_appspec
from slipway.domain.render.plan import approval_fields, codedeploy_fields
from slipway.errors import PromotionRefused, RenderError, SlipwayError
from slipway.models.config import Environment, Pipeline
from slipway.models.records import AuditKind, EnvironmentResult, ReleaseRecord
from slipway.models.release import Plan, Release, sha256_hex

GOOD_RECORDS_READ = 100


class RollbackRefused(SlipwayError):
    """There is nothing (or nothing valid) to roll back to; the message says what exists."""


def rollback_release_id(pipeline: str, digest: str, now: datetime) -> str:
    """An execution name of its own for a rollback (the original release id is taken): <= 80 characters."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in pipeline)[:30]
    return f"{safe}-rb-{digest.removeprefix('sha256:')[:16]}-{now.astimezone(UTC).strftime('%Y%m%d%H%M%S')}"


def choose_target(records: list[EnvironmentResult], revision: str | None, where: str) -> EnvironmentResult:
    """The verified-good result to roll back to (``records`` newest first): ``revision`` when given, else the
    newest one whose task definition is not the one running now (the newest of all)."""
    if not records:
        raise RollbackRefused(f"{where} has no verified-good revision to roll back to")
    if revision is None:
        running = records[0].task_definition_arn
        for record in records:
            if record.task_definition_arn != running:
                return record
        raise RollbackRefused(
            f"{where} has no earlier verified-good revision to roll back to: the {len(records)} newest "
            f"verified-good record(s) are all {running}, the revision running now "
            "(pass --revision ARN to redeploy a revision explicitly)"
        )
    for record in records:
        if record.task_definition_arn == revision:
            return record
    known = ", ".join(sorted({str(r.task_definition_arn) for r in records}))
    raise RollbackRefused(f"{revision} was never verified good in {where} (verified good: {known})")


def rollback_release(
    target: EnvironmentResult, original: ReleaseRecord | None, *, now: datetime, requested_by: str | None
) -> Release:
    """The release that redeploys ``target`` (its image and its task definition revision)."""
    if original is None:
        raise RollbackRefused(f"the audit record of release {target.release_id} is missing: cannot tell its image")
    return Release(
        release_id=rollback_release_id(target.pipeline, target.digest, now),
        pipeline=target.pipeline,
        registry=original.release.registry,
        repository=original.release.repository,
        digest=target.digest,
        tags=list(original.release.tags),
        commit=original.release.commit,
        pushed_at=now,
        pushed_by=requested_by,
        source="rollback",
        rollback_task_definition_arn=target.task_definition_arn,
    )


def verified_good_result(
    deps: ReleaseDeps, pipeline: Pipeline, release: Release, environment: str
) -> EnvironmentResult:
    """The verified-good result a rollback release redeploys; refused when there is none (a forged input)."""
    arn = release.rollback_task_definition_arn
    for record in deps.audit.verified_good(pipeline.name, environment, limit=GOOD_RECORDS_READ):
        if record.task_definition_arn == arn and record.digest == release.digest:
            return record
    raise PromotionRefused(
        f"rollback refused: {arn} with {short_digest(release.digest)} was never verified good in {environment} "
        f"of {pipeline.name}"
    )


def _recorded_appspec(deps: ReleaseDeps, env: Environment, release_id: str) -> str | None:
    """The AppSpec the verified-good release deployed (its audit PLAN event)."""
    for event in reversed(deps.audit.events(release_id)):
        content = event.data.get("appspec_content")
        if event.kind is AuditKind.PLAN and event.environment == env.name and content:
            return str(content)
    return None


def rollback_plan(deps: ReleaseDeps, pipeline: Pipeline, env: Environment, release: Release) -> Plan:
    record = verified_good_result(deps, pipeline, release, env.name)
    arn = str(release.rollback_task_definition_arn)
    content = _recorded_appspec(deps, env, record.release_id) if env.appspec is not None else ""
    if content is None and env.appspec is not None:
        if not (env.appspec.container_name and env.appspec.container_port):
            raise RenderError(
                f"rollback of {env.name}: no recorded AppSpec for release {record.release_id} and "
                "appspec.container_name/container_port are not configured to build one"
            )
        content, _ = appspec_content(build_appspec(env.appspec), arn)
    return Plan(
        release_id=release.release_id,
        pipeline=pipeline.name,
        environment=env.name,
        digest=release.digest,
        plan_hash=record.plan_hash or sha256_hex(arn),
        task_definition_arn=arn,
        reused_revision=True,
        appspec_content=content or "",
        appspec_sha256=sha256_hex(content) if content else "",
        diff=[f"rollback to {arn}, verified good in {env.name} by release {record.release_id}"],
        **codedeploy_fields(env),
        **approval_fields(env),
    )

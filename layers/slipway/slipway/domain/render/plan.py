"""One environment's plan for a release: render, validate, register (or reuse) the revision, AppSpec, diff.

Nothing is registered unless rendering and validation found no problem at all.
"""

from __future__ import annotations

from typing import Any, Protocol

from slipway.domain.config import ConfigSource
from slipway.domain.render.appspec import appspec_content
from slipway.domain.render.diff import diff_task_definitions
from slipway.domain.render.environment import render_environment
from slipway.domain.render.taskdef import ReadS3
from slipway.errors import RenderError
from slipway.models.config import CodeDeployMethod, Environment, Pipeline
from slipway.models.release import TAG_COMMIT, TAG_DIGEST, TAG_PLAN_HASH, TAG_RELEASE_ID, Plan, Release


class TaskDefinitionRegistry(Protocol):
    """ECS task definitions (the adapter is ``EcsRegistry``)."""

    def live_task_definition(self, cluster: str, service: str) -> dict[str, Any] | None:
        """The service's current task definition (DescribeTaskDefinition output plus ``tags``), or None."""
        ...

    def register_or_reuse(
        self, task_definition: dict[str, Any], plan_hash: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        """(task definition ARN, reused): reuse the family's latest ACTIVE revision if it carries this plan hash."""
        ...


def registration_tags(release: Release, plan_hash: str) -> dict[str, str]:
    return {
        TAG_RELEASE_ID: release.release_id,
        TAG_DIGEST: release.digest,
        TAG_PLAN_HASH: plan_hash,
        TAG_COMMIT: release.commit or "unknown",
    }


def codedeploy_fields(environment: Environment) -> dict[str, Any]:
    """The plan's CodeDeploy fields (empty for an ECS-native environment: its deployer reads the config)."""
    method = environment.deployment
    if not isinstance(method, CodeDeployMethod):
        return {}
    return {
        "application": method.application,
        "deployment_group": method.deployment_group,
        "deployment_config": method.deployment_config,
    }


def approval_fields(environment: Environment) -> dict[str, Any]:
    """When the plan is approved (before deploying, or after test traffic: the deployment then waits for it too)."""
    policy = environment.approval
    after = policy.required and policy.stage == "after_test_traffic"
    wait = environment.deployment.wait_timeout_minutes * 60
    return {
        "approval_required": policy.required and not after,
        "approval_after_test_traffic": after,
        "test_url": policy.test_url if after else None,
        "approval_timeout_seconds": policy.timeout_minutes * 60,
        "deployment_wait_seconds": wait + (policy.timeout_minutes * 60 if after else 0),
    }


def make_plan(
    *,
    pipeline: Pipeline,
    environment: Environment,
    release: Release,
    source: ConfigSource,
    registry: TaskDefinitionRegistry,
    read_s3: ReadS3 | None = None,
) -> Plan:
    """Raises ``RenderError`` listing every problem; registers nothing in that case.

    ``read_s3`` reads ``s3://`` templates when ``source`` cannot (a local config folder); an
    ``S3ConfigSource`` reads them itself.
    """
    live = registry.live_task_definition(environment.cluster, environment.service)
    rendered = render_environment(pipeline, environment, release, source, live=live, read_s3=read_s3)
    if rendered.problems:
        raise RenderError(
            f"{pipeline.name}/{environment.name}: {len(rendered.problems)} problem(s), nothing registered:\n"
            + "\n".join(rendered.problems)
        )
    arn, reused = registry.register_or_reuse(
        rendered.task_definition, rendered.plan_hash, registration_tags(release, rendered.plan_hash)
    )
    content, content_sha256 = appspec_content(rendered.appspec, arn) if rendered.appspec else ("", "")
    return Plan(
        release_id=release.release_id,
        pipeline=pipeline.name,
        environment=environment.name,
        digest=release.digest,
        plan_hash=rendered.plan_hash,
        task_definition_arn=arn,
        reused_revision=reused,
        appspec_content=content,
        appspec_sha256=content_sha256,
        diff=diff_task_definitions(live, rendered.task_definition),
        **codedeploy_fields(environment),
        **approval_fields(environment),
    )

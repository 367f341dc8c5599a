"""The stack parameters a config decides: the ECR repositories the push rule listens to and the roles slipway
may pass to ECS. `slipway stack-parameters` prints them for `sam deploy --parameter-overrides`; the local cloud
deploys with the same values."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def repository_names(config: Any) -> list[str]:
    return sorted({pipeline.repository for pipeline in config.pipelines.values()})


def task_role_arns(config: Any, config_dir: Path) -> list[str]:
    """Every task and execution role the config's task definitions name (the stack may pass only these): each
    environment rendered as `slipway validate` renders it. ``live`` and artifact sources name theirs at run time."""
    from slipway.domain.config import LocalConfigSource
    from slipway.domain.render.environment import render_environment
    from slipway.domain.render.offline import sample_release

    roles: set[str] = set()
    for pipeline in config.pipelines.values():
        for env in pipeline.environments:
            if env.task_definition.source != "template" or str(env.task_definition.path).startswith("s3://"):
                continue
            rendered = render_environment(pipeline, env, sample_release(pipeline), LocalConfigSource(config_dir))
            roles |= {
                str(rendered.task_definition[k])
                for k in ("taskRoleArn", "executionRoleArn")
                if k in rendered.task_definition
            }
    return sorted(roles)


def unresolved_role_sources(config: Any) -> list[str]:
    """Environments whose roles are named only at run time (``live`` or artifact task definitions, or templates in
    S3): their roles must be added to TaskRoleArns by hand."""
    return [
        f"{pipeline.name}/{env.name} ({env.task_definition.source})"
        for pipeline in config.pipelines.values()
        for env in pipeline.environments
        if env.task_definition.source != "template" or str(env.task_definition.path).startswith("s3://")
    ]

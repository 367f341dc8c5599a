"""The IAM roles the task definitions name (``taskRoleArn``, ``executionRoleArn``), per environment: rendered
offline from templates (S3 templates read with the account's S3 client), read from the running service for
``live``, unknown for ``artifact`` (the file exists only when a CodePipeline runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from slipway.domain.config import LocalConfigSource
from slipway.domain.render.environment import render_environment
from slipway_dev.offline_render import sample_release
from slipway_dev.preflight import aws_refusal

ROLE_FIELDS = ("taskRoleArn", "executionRoleArn")


@dataclass
class TaskRoles:
    """``arns``: role ARN -> what names it ("web-app/production taskRoleArn"); ``by_env``: "pipeline/env" -> its
    role ARNs; ``unknown``: "pipeline/env" -> why its roles are not known."""

    arns: dict[str, list[str]] = field(default_factory=dict)
    by_env: dict[str, list[str]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)


def task_roles(root: Path, account: Any, selected: list[tuple[Any, Any]]) -> TaskRoles:
    found = TaskRoles()
    for pipeline, env in selected:
        name = f"{pipeline.name}/{env.name}"
        try:
            _environment_roles(found, name, pipeline, env, root, account)
        except ClientError as exc:  # an S3 template or the live service that cannot be read
            found.unknown[name] = f"its task definition could not be read: {aws_refusal(exc)}"
    return found


def _environment_roles(found: TaskRoles, name: str, pipeline: Any, env: Any, root: Path, account: Any) -> None:
    from slipway.adapters.ecs import EcsRegistry
    from slipway.adapters.s3 import read_s3_text

    spec = env.task_definition
    if spec.source == "artifact":
        found.unknown[name] = f"its task definition comes from the CodePipeline artifact ({spec.path})"
        return
    if spec.source == "live":
        document = EcsRegistry(account.client("ecs")).live_task_definition(env.cluster, env.service)
        if document is None:
            found.unknown[name] = f"source is live and {env.cluster}/{env.service} runs nothing yet"
            return
    else:
        rendered = render_environment(
            pipeline,
            env,
            sample_release(pipeline),
            LocalConfigSource(root),
            read_s3=lambda uri: read_s3_text(account.client("s3"), uri),
        )
        document = rendered.task_definition
        if not document:
            found.unknown[name] = "its task definition does not render (run `slipway validate`)"
            return
    arns = [str(document[key]) for key in ROLE_FIELDS if isinstance(document.get(key), str) and document[key]]
    found.by_env[name] = arns
    for key in ROLE_FIELDS:
        if isinstance(document.get(key), str) and document[key]:
            found.arns.setdefault(str(document[key]), []).append(f"{name} {key}")

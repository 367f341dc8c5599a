"""The stack parameters a config decides: the ECR repositories the push rule listens to, the roles slipway
may pass to ECS, and the deploy roles and accounts of environments elsewhere (``target``). `slipway
stack-parameters` prints them for `sam deploy --parameter-overrides`; the local cloud deploys with the same values.
``target_parameters`` gives what ``target-account.yaml`` needs in one target account (docs/accounts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TargetParameters:
    """What target-account.yaml is deployed with in one account: the names its deploy role may act on."""

    account_id: str
    deploy_roles: dict[str, str | None]  # role ARN -> the external id the config names
    regions: list[str]
    clusters: list[str]
    services: list[str]  # cluster/service
    deployment_groups: list[str]  # application/deployment-group
    task_role_arns: list[str]


def target_role_arns(config: Any) -> list[str]:
    """The deploy roles the control plane assumes (its stack's TargetRoleArns)."""
    return sorted({env.target.role_arn for env in _environments(config) if env.target is not None})


def target_account_ids(config: Any) -> list[str]:
    """The accounts whose forwarded deployment events the control plane's bus admits (TargetAccountIds)."""
    return sorted({env.target.account_id for env in _environments(config) if env.target is not None})


def target_parameters(config: Any, config_dir: Path, account_id: str) -> TargetParameters:
    envs = [env for env in _environments(config) if env.target is not None and env.target.account_id == account_id]
    return TargetParameters(
        account_id=account_id,
        deploy_roles={env.target.role_arn: env.target.external_id for env in envs},
        regions=sorted({env.target.region for env in envs}),
        clusters=sorted({env.cluster for env in envs}),
        services=sorted({f"{env.cluster}/{env.service}" for env in envs}),
        deployment_groups=sorted({f"{env.deployment.application}/{env.deployment.deployment_group}" for env in envs}),
        task_role_arns=task_role_arns(config, config_dir, account_id),
    )


def _environments(config: Any) -> list[Any]:
    return [env for pipeline in config.pipelines.values() for env in pipeline.environments]


def repository_names(config: Any) -> list[str]:
    return sorted({pipeline.repository for pipeline in config.pipelines.values()})


def task_role_arns(config: Any, config_dir: Path, target_account: str | None = None) -> list[str]:
    """Every task and execution role the config's task definitions name (the stack may pass only these): each
    environment rendered as `slipway validate` renders it. ``live`` and artifact sources name theirs at run time.
    ``target_account``: those of the environments in that account (target-account.yaml's); None: those of the
    environments without a target (the control plane's own stack)."""
    from slipway.domain.config import LocalConfigSource
    from slipway.domain.render.environment import render_environment
    from slipway_dev.offline_render import sample_release

    roles: set[str] = set()
    for pipeline in config.pipelines.values():
        for env in pipeline.environments:
            if (env.target.account_id if env.target else None) != target_account:
                continue
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

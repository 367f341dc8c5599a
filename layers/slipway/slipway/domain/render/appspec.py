"""The CodeDeploy AppSpec: one builder (``build_appspec``) for rendering and rollback alike, a template reader,
the check against the task definition, and the final ``AppSpecContent`` with the registered revision filled in."""

from __future__ import annotations

import json
from typing import Any

from slipway.domain.config import ConfigSource
from slipway.domain.render.ecs_schema import describe_value
from slipway.domain.render.taskdef import ReadS3, containers, read_template
from slipway.domain.render.variables import substitute_text
from slipway.errors import SlipwayError, TransientError
from slipway.models.config import AppSpecSpec, Environment
from slipway.models.release import Release, sha256_hex

TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"


def build_appspec(spec: AppSpecSpec, task_definition: str = TASK_DEFINITION_PLACEHOLDER) -> dict[str, Any]:
    """The AppSpec of an ECS service behind a load balancer: ``container_name``/``container_port`` and hooks."""
    assert spec.container_name is not None and spec.container_port is not None
    appspec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": task_definition,
                        "LoadBalancerInfo": {
                            "ContainerName": spec.container_name,
                            "ContainerPort": spec.container_port,
                        },
                    },
                }
            }
        ],
    }
    return with_hooks(appspec, spec)


def with_hooks(appspec: dict[str, Any], spec: AppSpecSpec) -> dict[str, Any]:
    if spec.hooks:
        appspec["Hooks"] = [{event: function} for event, function in spec.hooks.items()]
    return appspec


def load_appspec(
    environment: Environment,
    release: Release,
    source: ConfigSource,
    variables: dict[str, str],
    read_s3: ReadS3 | None,
    config_where: str,
) -> tuple[dict[str, Any] | None, str, list[str]]:
    """(AppSpec with ``<TASK_DEFINITION>`` left in, where, problems): built from config or read from a template
    (the CodePipeline artifact's file of that name first)."""
    spec = environment.appspec
    if spec is None:  # an ECS-native environment: no AppSpec
        return {}, "", []
    if spec.path is None:
        return build_appspec(spec), "appspec (built from container_name/container_port)", []
    if spec.path in release.artifacts:
        text, where = release.artifacts[spec.path], f"artifact file {spec.path}"
    else:
        try:
            text, where = read_template(source, spec.path, read_s3)
        except TransientError:
            raise  # throttled or unavailable, not missing: retried, never a render problem
        except SlipwayError as exc:
            return None, spec.path, [f"{exc} (named by {config_where}.appspec.path)"]
    import yaml  # only for an AppSpec template

    try:
        loaded = yaml.safe_load(substitute_text(text, variables))
    except yaml.YAMLError as exc:
        return None, where, [f"{where}: not valid YAML/JSON after substitution: {exc}"]
    if not isinstance(loaded, dict):
        return None, where, [f"{where}: (top level): expected an AppSpec mapping with version and Resources"]
    return with_hooks(loaded, spec), where, []


def appspec_problems(appspec: dict[str, Any], task_definition: dict[str, Any], where: str) -> list[str]:
    """One ECS TargetService whose load balancer container and port exist in the task definition."""
    resources = appspec.get("Resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], dict):
        return [f"{where}: Resources: expected a list with one TargetService (AWS::ECS::Service)"]
    target = resources[0].get("TargetService")
    props = target.get("Properties") if isinstance(target, dict) else None
    if not isinstance(props, dict):
        return [f"{where}: Resources[0].TargetService.Properties: missing; see the ECS AppSpec reference"]
    problems = []
    if props.get("TaskDefinition") != TASK_DEFINITION_PLACEHOLDER:
        problems.append(
            f"{where}: Resources[0].TargetService.Properties.TaskDefinition: write {TASK_DEFINITION_PLACEHOLDER!r}; "
            "slipway fills in the registered revision"
        )
    lb = props.get("LoadBalancerInfo")
    lb_path = "Resources[0].TargetService.Properties.LoadBalancerInfo"
    if not isinstance(lb, dict):
        return [*problems, f"{where}: {lb_path}: missing; give ContainerName and ContainerPort"]
    by_name = {c.get("name"): c for c in containers(task_definition)}
    name, port = lb.get("ContainerName"), lb.get("ContainerPort")
    if name not in by_name:
        problems.append(
            f"{where}: {lb_path}.ContainerName: no container {name!r} in the task definition "
            f"(containers: {', '.join(str(n) for n in by_name)})"
        )
    elif isinstance(port, bool) or not isinstance(port, int):
        problems.append(f"{where}: {lb_path}.ContainerPort: expected an integer, got {describe_value(port)}")
    else:
        ports = [p.get("containerPort") for p in by_name[name].get("portMappings") or [] if isinstance(p, dict)]
        if port not in ports:
            problems.append(
                f"{where}: {lb_path}.ContainerPort: container {name!r} maps no port {port} (its ports: {ports}); "
                "add it to portMappings or fix the AppSpec"
            )
    return problems


def appspec_content(appspec: dict[str, Any], task_definition_arn: str) -> tuple[str, str]:
    """CodeDeploy's ``AppSpecContent``: (JSON content with the revision filled in, its sha256)."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return task_definition_arn if value == TASK_DEFINITION_PLACEHOLDER else value

    content = json.dumps(fill(appspec), separators=(",", ":"))
    return content, sha256_hex(content)

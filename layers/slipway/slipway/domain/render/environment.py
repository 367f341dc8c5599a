"""Rendering one environment: task definition and AppSpec, every check, and the plan hash. Nothing talks to AWS.

Every problem is collected and reported together; each message names the file, the JSON path and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slipway.domain.config import ConfigSource
from slipway.domain.render.appspec import appspec_problems, load_appspec
from slipway.domain.render.ecs_schema import model_problems, port_problems
from slipway.domain.render.secrets import secret_problems
from slipway.domain.render.taskdef import ReadS3, load_task_definition, pin_images, registration_input
from slipway.domain.render.variables import missing_variables, template_variables
from slipway.models.config import Environment, Pipeline
from slipway.models.release import Release, sha256_hex


@dataclass
class Rendered:
    """One environment's candidate: RegisterTaskDefinition input, AppSpec template, plan hash, problems."""

    task_definition: dict[str, Any]
    appspec: dict[str, Any]
    plan_hash: str
    problems: list[str] = field(default_factory=list)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_hash(task_definition: dict[str, Any], appspec: dict[str, Any], digest: str) -> str:
    """Stable across runs: same task definition input, AppSpec template and digest -> same hash."""
    return sha256_hex(canonical_json({"task_definition": task_definition, "appspec": appspec, "digest": digest}))


def render_environment(
    pipeline: Pipeline,
    environment: Environment,
    release: Release,
    source: ConfigSource,
    *,
    live: dict[str, Any] | None = None,
    read_s3: ReadS3 | None = None,
) -> Rendered:
    """Render and validate one environment's task definition and AppSpec; every problem is in ``problems``."""
    index = pipeline.environments.index(environment) if environment in pipeline.environments else 0
    config_where = f"pipeline {pipeline.name!r} environments[{index}]"
    variables, problems = template_variables(pipeline, environment, release, config_where)

    loaded, where, load_problems = load_task_definition(
        environment, release, source, variables, live, read_s3, config_where
    )
    problems += load_problems
    task_definition = registration_input(loaded) if loaded is not None else {}
    shape_problems: list[str] = []
    missing = missing_variables(task_definition, where, config_where) if loaded is not None else []
    problems += missing

    if loaded is not None:
        problems += pin_images(task_definition, environment, release, where, config_where)
        problems += secret_problems(task_definition, environment.allow_plaintext, where)
        shape_problems = [] if missing else model_problems(task_definition) or port_problems(task_definition)
        problems += [f"{where}: {p}" for p in shape_problems]

    appspec, appspec_where, appspec_load = load_appspec(environment, release, source, variables, read_s3, config_where)
    problems += appspec_load
    if appspec is not None and environment.appspec is not None:  # ECS-native environments have no AppSpec
        appspec_missing = missing_variables(appspec, appspec_where, config_where)
        problems += appspec_missing
        # The AppSpec is checked against the task definition only when that one is sound.
        if loaded is not None and not missing and not shape_problems and not appspec_missing:
            problems += appspec_problems(appspec, task_definition, appspec_where)
    appspec = appspec or {}
    return Rendered(
        task_definition=task_definition,
        appspec=appspec,
        plan_hash=plan_hash(task_definition, appspec, release.digest),
        problems=problems,
    )

"""Configs of many pipelines for the scale figures, generated from the example pipeline (`config/`).

Each pipeline ``svc-NNN`` takes its own ECR repository (``svc-NNN``) through its own clusters, services and
deployment groups, with the example's task definition template and AppSpec: what an organisation with hundreds of
services would publish.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "web-app.yaml"
# A third environment between the example's two: a copy of staging, without an approval.
MIDDLE_ENVIRONMENT = "preprod"


def pipeline_name(index: int) -> str:
    return f"svc-{index:03d}"


def _environments(example: dict[str, Any], count: int) -> list[dict[str, Any]]:
    staging, production = example["environments"]
    if count == 2:
        return [copy.deepcopy(staging), copy.deepcopy(production)]
    if count == 3:
        middle = copy.deepcopy(staging)
        middle["name"] = MIDDLE_ENVIRONMENT
        return [copy.deepcopy(staging), middle, copy.deepcopy(production)]
    raise ValueError(f"environments per pipeline: 2 or 3, not {count}")


def generate_config(folder: Path, pipelines: int, environments: int = 2, **overrides: Any) -> Path:
    """``folder/config``: ``pipelines`` copies of the example, ``environments`` each (2: staging and production;
    3: staging, preprod, production); ``overrides`` replace top-level keys of every pipeline (``concurrency``)."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    example = yaml.safe_load((config / "pipelines" / EXAMPLE).read_text())
    for path in (config / "pipelines").glob("*.yaml"):  # the example's own pipelines: only the generated ones stay
        path.unlink()
    for index in range(pipelines):
        name = pipeline_name(index)
        pipeline = {**copy.deepcopy(example), "name": name, "repository": name, **overrides}
        pipeline["environments"] = _environments(example, environments)
        for env in pipeline["environments"]:
            env["cluster"] = f"{name}-{env['name']}-cluster"
            env["service"] = f"{name}-{env['name']}-service"
            env["deployment"]["deployment_group"] = f"{name}-{env['name']}"
        (config / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return config

"""``slipway validate``: render every pipeline x environment with a sample digest, without AWS."""

from __future__ import annotations

from slipway.domain.config import ConfigSource
from slipway.domain.render.environment import render_environment
from slipway.domain.render.taskdef import ReadS3
from slipway.models.config import Pipeline, SlipwayConfig
from slipway.models.release import Release, release_id_for

SAMPLE_REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
SAMPLE_DIGEST = "sha256:" + "0" * 64


def sample_release(pipeline: Pipeline) -> Release:
    return Release(
        release_id=release_id_for(pipeline.name, SAMPLE_DIGEST),
        pipeline=pipeline.name,
        registry=SAMPLE_REGISTRY,
        repository=pipeline.repository,
        digest=SAMPLE_DIGEST,
        commit="0" * 40,
        source="cli",
    )


def validate_offline(config: SlipwayConfig, source: ConfigSource, read_s3: ReadS3 | None = None) -> list[str]:
    """Render every pipeline x environment with a sample digest, without AWS; one message per problem.

    Skipped (they need AWS or a pipeline run): ``live`` and ``artifact`` task definitions, and ``s3://``
    templates unless ``read_s3`` is given.
    """
    problems = []
    for pipeline in config.pipelines.values():
        release = sample_release(pipeline)
        for environment in pipeline.environments:
            paths = (environment.task_definition.path or "", environment.appspec.path or "")
            if environment.task_definition.source != "template" or (
                read_s3 is None and any(p.startswith("s3://") for p in paths)
            ):
                continue
            rendered = render_environment(pipeline, environment, release, source, read_s3=read_s3)
            problems += [f"{pipeline.name}/{environment.name}: {p}" for p in rendered.problems]
    return problems

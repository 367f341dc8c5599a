"""``slipway validate``: render every pipeline x environment with a sample digest, without AWS, and say which
environments could not be checked that way (and why)."""

from __future__ import annotations

from dataclasses import dataclass, field

from slipway.domain.config import ConfigSource
from slipway.domain.render.environment import render_environment
from slipway.domain.render.taskdef import ReadS3, unnamed_repository_images
from slipway.models.config import Environment, Pipeline, SlipwayConfig
from slipway.models.release import Release, release_id_for

SAMPLE_REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
SAMPLE_DIGEST = "sha256:" + "0" * 64


@dataclass
class OfflineReport:
    """What ``validate_offline`` found: problems (one line each), and per pipeline/environment ``ok`` or why it
    was skipped."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # "pipeline/environment"
    skipped: dict[str, str] = field(default_factory=dict)  # "pipeline/environment" -> why


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


def offline_skip_reason(pipeline: Pipeline, environment: Environment, can_read_s3: bool) -> str | None:
    """Why this environment cannot be rendered without AWS or a pipeline run; None when it can."""
    spec = environment.task_definition
    command = f"`slipway diff {pipeline.name} {environment.name} --image-digest sha256:…`"
    if spec.source == "live":
        return f"task_definition.source is live: the service's running task definition is needed (check: {command})"
    if spec.source == "artifact":
        return (
            f"task_definition.source is artifact: {spec.path} comes from a CodePipeline input artifact, known only "
            "when the pipeline runs"
        )
    on_s3 = [
        p for p in (spec.path, environment.appspec.path if environment.appspec else None) if p and p.startswith("s3://")
    ]
    if on_s3 and not can_read_s3:
        return f"{', '.join(on_s3)} is on S3 (check: {command}, or `slipway render` with AWS credentials)"
    return None


def validate_offline(config: SlipwayConfig, source: ConfigSource, read_s3: ReadS3 | None = None) -> OfflineReport:
    """Render every pipeline x environment with a sample digest, without AWS; one message per problem.

    Skipped, with the reason (they need AWS or a pipeline run): ``live`` and ``artifact`` task definitions, and
    ``s3://`` templates unless ``read_s3`` is given.
    """
    report = OfflineReport()
    for pipeline in config.pipelines.values():
        release = sample_release(pipeline)
        for environment in pipeline.environments:
            name = f"{pipeline.name}/{environment.name}"
            reason = offline_skip_reason(pipeline, environment, read_s3 is not None)
            if reason is not None:
                report.skipped[name] = reason
                continue
            rendered = render_environment(pipeline, environment, release, source, read_s3=read_s3)
            path = environment.task_definition.path or ""
            where = path if path.startswith("s3://") else source.describe(path)
            config_where = f"pipeline {pipeline.name!r} environments[{pipeline.environments.index(environment)}]"
            problems = rendered.problems + unnamed_repository_images(
                rendered.task_definition, environment, release, where, config_where
            )
            report.problems += [f"{name}: {p}" for p in problems]
            report.checked.append(name)
    return report

"""`slipway render` (write what would be registered and deployed) and `slipway diff` (against the live service)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.render.diff import diff_task_definitions
from slipway.domain.render.environment import Rendered, render_environment
from slipway.models.config import Environment, Pipeline
from slipway.models.release import DIGEST_PATTERN, Release, release_id_for
from slipway_dev.offline_render import SAMPLE_REGISTRY


def _digest(value: str) -> str:
    if not re.fullmatch(DIGEST_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an image digest (sha256: and 64 hex digits)")
    return value


def register(subparsers: Any) -> None:
    for name, func, help_text in (
        ("render", run_render, "render and validate a task definition + AppSpec, write them to --out"),
        ("diff", run_diff, "show what would change against the live ECS service (boto3 default session)"),
    ):
        parser = subparsers.add_parser(name, help=help_text)
        parser.add_argument("pipeline", help="the pipeline's name")
        parser.add_argument("environment", help="the environment's name")
        parser.add_argument("--image-digest", required=True, type=_digest, help="sha256:... of the image")
        parser.add_argument("--config", default=Path("config"), type=Path, help="config folder")
        parser.add_argument("--registry", help="ECR registry host (default: looked up for diff, a sample for render)")
        parser.add_argument("--commit", help="commit SHA for the ${commit} variable and tags")
        if name == "render":
            parser.add_argument("--out", default=Path("rendered"), type=Path, help="output folder")
        parser.set_defaults(func=func)


def _session() -> Any:
    import boto3

    return boto3.Session()


def _read_s3(session: Any) -> Any:
    from slipway.adapters.s3 import read_s3_text

    return lambda uri: read_s3_text(session.client("s3"), uri)


def _release(pipeline: Pipeline, args: argparse.Namespace, registry: str) -> Release:
    return Release(
        release_id=release_id_for(pipeline.name, args.image_digest),
        pipeline=pipeline.name,
        registry=registry,
        repository=pipeline.repository,
        digest=args.image_digest,
        commit=args.commit,
        source="cli",
    )


def _render(
    args: argparse.Namespace, live_needed: bool, registry: str | None
) -> tuple[Pipeline, Environment, Release, Rendered, dict[str, Any] | None]:
    source = LocalConfigSource(args.config)
    pipeline = load_config(source).pipeline(args.pipeline)
    environment = pipeline.environment(args.environment)
    session = _session()
    live = None
    if live_needed or environment.task_definition.source == "live":
        from slipway.adapters.ecs import EcsRegistry

        live = EcsRegistry(session.client("ecs")).live_task_definition(environment.cluster, environment.service)
    if registry is None:
        registry = SAMPLE_REGISTRY
    release = _release(pipeline, args, registry)
    rendered = render_environment(pipeline, environment, release, source, live=live, read_s3=_read_s3(session))
    return pipeline, environment, release, rendered, live


def _fail(problems: list[str]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s); nothing written", file=sys.stderr)
    return 1


def run_render(args: argparse.Namespace) -> int:
    pipeline, environment, release, rendered, live = _render(args, False, args.registry)
    if rendered.problems:
        return _fail(rendered.problems)
    diff = diff_task_definitions(live, rendered.task_definition)
    plan = {
        "pipeline": pipeline.name,
        "environment": environment.name,
        "release_id": release.release_id,
        "digest": release.digest,
        "image_uri": release.image_uri,
        "plan_hash": rendered.plan_hash,
        "diff": diff,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, document in (("taskdef.json", rendered.task_definition), ("appspec.json", rendered.appspec)):
        (args.out / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (args.out / "plan.json").write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    print(f"{pipeline.name}/{environment.name}: plan {rendered.plan_hash[:12]}, image {release.image_uri}")
    print(f"  family {rendered.task_definition.get('family')}, containers pinned: {', '.join(environment.containers)}")
    for line in diff:
        print(f"  {line}")
    if args.registry is None:
        print(f"  (registry {SAMPLE_REGISTRY} is a sample: pass --registry for the real image URI)")
    print(f"  wrote {args.out}/taskdef.json, appspec.json, plan.json")
    return 0


def _lookup_registry(repository: str) -> str:
    ecr = _session().client("ecr")
    uri: str = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    return uri.removesuffix(f"/{repository}")


def _running_service(environment: Environment) -> None:
    """A CliError unless the environment's cluster and service exist: diffing against nothing is no answer."""
    from slipway_dev.cli.errors import CliError

    ecs = _session().client("ecs")
    if not [c for c in ecs.describe_clusters(clusters=[environment.cluster])["clusters"] if c["status"] == "ACTIVE"]:
        raise CliError(
            f"cluster {environment.cluster} does not exist here (fix cluster of {environment.name}, or the region/"
            "account: `slipway preflight` checks them all)"
        )
    services = ecs.describe_services(cluster=environment.cluster, services=[environment.service])["services"]
    if not [s for s in services if s.get("status") == "ACTIVE"]:
        raise CliError(
            f"service {environment.service} does not exist in cluster {environment.cluster} (fix service of "
            f"{environment.name}, or create it: docs/first-service.md)"
        )


def run_diff(args: argparse.Namespace) -> int:
    pipeline = load_config(LocalConfigSource(args.config)).pipeline(args.pipeline)
    _running_service(pipeline.environment(args.environment))
    registry = args.registry or _lookup_registry(pipeline.repository)
    pipeline, environment, _, rendered, live = _render(args, True, registry)
    if rendered.problems:
        return _fail(rendered.problems)
    print(f"{pipeline.name}/{environment.name} ({environment.cluster}/{environment.service}):")
    if live is not None:
        print(f"  running {live.get('taskDefinitionArn')}")
    for line in diff_task_definitions(live, rendered.task_definition):
        print(f"  {line}")
    return 0

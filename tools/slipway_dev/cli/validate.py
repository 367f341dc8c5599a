"""`slipway validate` (config + offline rendering) and `slipway lint-asl` (statelint after substitution)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import SlipwayError


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser("validate", help="load the config and render every pipeline x environment")
    validate.add_argument("--config", default="config", type=Path, help="config folder (default: config)")
    validate.set_defaults(func=run_validate)

    publish = subparsers.add_parser("publish-config", help="validate the config, then copy it to s3://bucket/prefix")
    publish.add_argument("--config", default="config", type=Path, help="config folder (default: config)")
    publish.add_argument("location", help="the stack's ConfigLocation, s3://bucket/prefix")
    publish.set_defaults(func=run_publish_config)

    lint = subparsers.add_parser("lint-asl", help="statelint every state machine after DefinitionSubstitutions")
    lint.set_defaults(func=run_lint_asl)


def run_validate(args: argparse.Namespace) -> int:
    """One line per problem (file, path, problem), then ``N problem(s) in DIR``; exit 1 on any problem.

    Config-model problems stop before rendering (there is nothing sound to render), so they are reported alone.
    """
    try:
        config = load_config(LocalConfigSource(args.config))
    except SlipwayError as exc:
        return _report([line for line in str(exc).splitlines() if line.strip()], args.config)
    problems = offline_render_problems(config, args.config)
    if problems:
        return _report(problems, args.config)
    for pipeline in config.pipelines.values():
        envs = " -> ".join(pipeline.environment_names())
        print(f"ok  {pipeline.name}: {pipeline.repository} ({pipeline.concurrency}) {envs}")
    return 0


def _report(problems: list[str], root: Path) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
    return 1


def run_publish_config(args: argparse.Namespace) -> int:
    if run_validate(args) != 0:
        print("not published: fix the problems above first", file=sys.stderr)
        return 1
    import boto3

    from slipway.adapters.s3 import split_s3_uri

    bucket, prefix = split_s3_uri(args.location)
    s3 = boto3.client("s3")
    root: Path = args.config
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = "/".join(part for part in (prefix.strip("/"), path.relative_to(root).as_posix()) if part)
        s3.upload_file(str(path), bucket, key)
        print(f"uploaded s3://{bucket}/{key}")
    return 0


def offline_render_problems(config: Any, root: Path) -> list[str]:
    """Render every pipeline x environment without AWS; one message per problem."""
    from slipway.domain.render.offline import validate_offline

    problems: list[str] = validate_offline(config, LocalConfigSource(root))
    return problems


def run_lint_asl(args: argparse.Namespace) -> int:
    from statelint.linter import Linter

    from slipway_dev.template import load_template, placeholder_arn, rendered_definitions

    failed = False
    for logical_id, definition in rendered_definitions(load_template(), placeholder_arn).items():
        problems = Linter.validate(definition)
        for problem in problems:
            print(f"{logical_id}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        print(f"{logical_id}: {'FAILED' if problems else 'ok'} (statelint)")
    return 1 if failed else 0

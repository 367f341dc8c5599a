"""`slipway validate` (config + offline rendering), `slipway publish-config` (validate, check the stack, copy the
config to its ConfigLocation, remove what is no longer there) and `slipway lint-asl` (statelint after
substitution)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import ConfigError
from slipway_dev.cli.errors import CliError


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate", help="load the config and render every pipeline x environment, offline"
    )
    validate.add_argument("--config", default=Path("config"), type=Path, help="config folder")
    validate.set_defaults(func=run_validate)

    publish = subparsers.add_parser(
        "publish-config",
        help="validate the config, check the stack covers it, copy it to s3://bucket/prefix and remove stale files",
    )
    publish.add_argument("--config", default=Path("config"), type=Path, help="config folder")
    publish.add_argument("location", help="the stack's ConfigLocation, s3://bucket/prefix")
    publish.add_argument("--stack", default=None, help="the slipway stack to check against (default: slipway-dev)")
    publish.set_defaults(func=run_publish_config)

    lint = subparsers.add_parser("lint-asl", help="statelint every state machine after DefinitionSubstitutions")
    lint.set_defaults(func=run_lint_asl)


def run_validate(args: argparse.Namespace) -> int:
    """One line per problem (file, path, problem), then ``N problem(s) in DIR``; exit 1 on any problem. Without
    problems: per pipeline, each environment ``ok`` or ``skipped`` with the reason (never ``ok`` unchecked).

    Config-model problems stop before rendering (there is nothing sound to render), so they are reported alone.
    """
    from slipway_dev.offline_render import validate_offline

    try:
        config = load_config(LocalConfigSource(args.config))
    except ConfigError as exc:
        return _report([line for line in str(exc).splitlines() if line.strip()], args.config)
    report = validate_offline(config, LocalConfigSource(args.config))
    if report.problems:
        return _report(report.problems, args.config)
    for pipeline in config.pipelines.values():
        envs = " -> ".join(pipeline.environment_names())
        print(f"{pipeline.name}: {pipeline.repository} ({pipeline.concurrency}) {envs}")
        for env in pipeline.environment_names():
            reason = report.skipped.get(f"{pipeline.name}/{env}")
            print(f"  ok       {env}" if reason is None else f"  skipped  {env}: {reason}")
    return 0


def _report(problems: list[str], root: Path) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
    return 1


def run_publish_config(args: argparse.Namespace) -> int:
    """Validate; check the stack (when it exists: RepositoryNames, TaskRoleArns, its ConfigLocation); upload every
    file; delete the keys under the folders it writes that are no longer in the config folder."""
    import boto3

    from slipway.adapters.s3 import split_s3_uri
    from slipway_dev.compiled import compiled_config, compiled_key
    from slipway_dev.preflight import DEFAULT_STACK, Account
    from slipway_dev.preflight.config_bucket import bucket_problem, owned_prefixes, planned_objects, stored_keys

    if not args.location.startswith("s3://"):
        raise CliError(f"{args.location}: expected the stack's ConfigLocation, s3://bucket/prefix")
    bucket, prefix = split_s3_uri(args.location)
    if run_validate(args) != 0:
        print("not published: fix the problems above first", file=sys.stderr)
        return 1
    account = Account(boto3.Session())
    if not _stack_covers(account, args, args.stack or DEFAULT_STACK):
        print("not published: fix the stack (above) first, or publish where it reads", file=sys.stderr)
        return 1
    s3 = account.client("s3")
    problem = bucket_problem(s3, bucket)
    if problem is not None:
        raise CliError(problem)
    planned = planned_objects(args.config, prefix)
    for key, path in planned.items():
        s3.upload_file(str(path), bucket, key)
        print(f"uploaded s3://{bucket}/{key}")
    # last, so a function never reads a compiled file newer than the templates it names (docs/intake.md)
    key = compiled_key(prefix)
    s3.put_object(Bucket=bucket, Key=key, Body=compiled_config(args.config))
    print(f"compiled s3://{bucket}/{key} (what the functions read)")
    for key in stored_keys(s3, bucket, owned_prefixes(args.config, prefix)):
        if key not in planned:
            s3.delete_object(Bucket=bucket, Key=key)
            print(f"removed  s3://{bucket}/{key} (no longer in {args.config})")
    return 0


def _stack_covers(account: Any, args: argparse.Namespace, stack_name: str) -> bool:
    """The stack checks of preflight, printed; True unless the stack exists and does not cover the config. A
    missing stack is fine: the first publish comes before the first `sam deploy`."""
    from slipway_dev.preflight import Check
    from slipway_dev.preflight.stack import read_stack, stack_checks
    from slipway_dev.preflight.task_roles import task_roles

    stack = read_stack(account.client("cloudformation"), stack_name)
    if stack is None:
        print(f"- stack {stack_name}: not deployed yet, so not checked (run `slipway preflight` after `sam deploy`)")
        return True
    config = load_config(LocalConfigSource(args.config))
    selected = [(p, env) for p in config.pipelines.values() for env in p.environments]
    checks = stack_checks(stack, stack_name, config, task_roles(args.config, account, selected))
    location = args.location.rstrip("/")
    where = f"{stack_name} reads its config from {location}"
    if stack.config_location.rstrip("/") == location:
        checks.append(Check(where))
    else:
        checks.append(Check(where, fix=f"it reads {stack.config_location}: publish there, or pass --stack"))
    for check in checks:
        print(check.line())
    return all(check.ok for check in checks)


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

"""`slipway stack-parameters`: the template parameters a config decides, as `sam deploy --parameter-overrides`
takes them (RepositoryNames, TaskRoleArns). The other required ones (SlackSecretArn, ConfigLocation) name
resources you create; README "Deploying to AWS" lists them all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import SlipwayError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "stack-parameters", help="RepositoryNames and TaskRoleArns for sam deploy, from the config"
    )
    parser.add_argument("--config", default="config", type=Path, help="config folder (default: config)")
    parser.set_defaults(func=run_stack_parameters)


def run_stack_parameters(args: argparse.Namespace) -> int:
    from slipway_dev.stack_parameters import repository_names, task_role_arns, unresolved_role_sources

    try:
        config = load_config(LocalConfigSource(args.config))
        roles = task_role_arns(config, args.config)
    except SlipwayError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), str(exc))
        print(f"{args.config}: {first} (run `slipway validate --config {args.config}`)", file=sys.stderr)
        return 1
    print(f"RepositoryNames={','.join(repository_names(config))}")
    print(f"TaskRoleArns={','.join(roles)}")
    for source in unresolved_role_sources(config):
        print(f"# {source}: its task definition names its roles at run time; add them to TaskRoleArns", file=sys.stderr)
    if not roles:
        print("# no task definition names a role: TaskRoleArns needs at least one ARN", file=sys.stderr)
        return 1
    return 0

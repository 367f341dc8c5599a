"""`slipway stack-parameters`: the template parameters a config decides, as `sam deploy --parameter-overrides`
takes them (RepositoryNames, TaskRoleArns, and TargetRoleArns/TargetAccountIds when environments live elsewhere).
The other required ones (SlackSecretArn, ConfigLocation) name resources you create; README "Deploying to AWS"
lists them all. ``--target-account ACCOUNT``: target-account.yaml's parameters for that account instead
(docs/accounts.md)."""

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
    parser.add_argument(
        "--target-account", metavar="ACCOUNT", help="target-account.yaml's parameters for this account instead"
    )
    parser.set_defaults(func=run_stack_parameters)


def run_stack_parameters(args: argparse.Namespace) -> int:
    from slipway_dev.stack_parameters import (
        repository_names,
        target_account_ids,
        target_role_arns,
        task_role_arns,
        unresolved_role_sources,
    )

    try:
        config = load_config(LocalConfigSource(args.config))
        if args.target_account:
            return _target_parameters(config, args.config, args.target_account)
        roles = task_role_arns(config, args.config)
    except SlipwayError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), str(exc))
        print(f"{args.config}: {first} (run `slipway validate --config {args.config}`)", file=sys.stderr)
        return 1
    print(f"RepositoryNames={','.join(repository_names(config))}")
    print(f"TaskRoleArns={','.join(roles)}")
    if target_role_arns(config):
        print(f"TargetRoleArns={','.join(target_role_arns(config))}")
        print(f"TargetAccountIds={','.join(target_account_ids(config))}")
    for source in unresolved_role_sources(config):
        print(f"# {source}: its task definition names its roles at run time; add them to TaskRoleArns", file=sys.stderr)
    if not roles:
        print("# no task definition names a role: TaskRoleArns needs at least one ARN", file=sys.stderr)
        return 1
    return 0


def _target_parameters(config: Any, config_dir: Path, account: str) -> int:
    """target-account.yaml's parameters for ``account`` (the control plane's own come from its stack's outputs)."""
    from slipway_dev.stack_parameters import target_account_ids, target_parameters

    if account not in target_account_ids(config):
        known = ", ".join(target_account_ids(config)) or "none"
        print(f"no environment of {config_dir} has target.account_id {account} (targets: {known})", file=sys.stderr)
        return 1
    parameters = target_parameters(config, config_dir, account)
    external_ids = sorted({e for e in parameters.deploy_roles.values() if e})
    print(f"DeployRoleName={','.join(sorted(r.rsplit('/', 1)[-1] for r in parameters.deploy_roles))}")
    print(f"ExternalId={','.join(external_ids)}")
    print(f"ServiceNames={','.join(parameters.services)}")
    print(f"DeploymentGroupNames={','.join(parameters.deployment_groups)}")
    print(f"TaskRoleArns={','.join(parameters.task_role_arns)}")
    print("# ControlPlaneAccountId, ControlPlaneRegion: the tools account and region of the control plane stack;")
    print("# ControlPlaneRoleArns: its EnvironmentFunctionRoleArns output")
    return 0

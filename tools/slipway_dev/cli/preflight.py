"""`slipway preflight --config DIR [--env ENV] [--stack NAME]`: read-only checks of the AWS account, or of the local
cloud, before the first release (``slipway_dev.preflight``). One line per check, ``✓`` or ``✗`` with the fix;
exit 0 only when every check passed.

Where it looks: boto3's default session (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``...); when
``AWS_ENDPOINT_URL`` is unset (or is the local cloud's) and a local cloud runs (its ``local.json``, found as every
command finds it), that local cloud.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from slipway.domain.config import LocalConfigSource, load_config
from slipway_dev.cli.errors import CliError


def register(subparsers: Any) -> None:
    from slipway_dev.preflight import DEFAULT_STACK

    parser = subparsers.add_parser(
        "preflight", help="check the AWS account (or the local cloud) has what the config needs, read-only"
    )
    parser.add_argument("--config", default=Path("config"), type=Path, help="config folder")
    parser.add_argument("--env", help="check only this environment (of every pipeline that has it)")
    parser.add_argument("--stack", default=DEFAULT_STACK, help="the slipway stack (its parameters are checked)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where a local cloud's local.json is (default: $SLIPWAY_LOCAL_DIR, then .slipway)",
    )
    parser.set_defaults(func=run_preflight_command)


def account_for(state_dir: Path | None) -> tuple[Any, str]:
    """(Account, how to name it): the running local cloud when AWS_ENDPOINT_URL does not point elsewhere, else
    boto3's default session."""
    import boto3

    from slipway_dev.local.handle import running_state, state_dir_default
    from slipway_dev.preflight import Account

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    state = running_state(state_dir if state_dir is not None else state_dir_default())
    if state is not None and (not endpoint or endpoint.rstrip("/") == str(state["aws_endpoint"]).rstrip("/")):
        session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=state["region"],
        )
        return Account(session, state["aws_endpoint"]), f"the local cloud at {state['aws_endpoint']}"
    account = Account(boto3.Session())
    where = f" ({endpoint})" if endpoint else ""
    return account, f"AWS account {account.account_id}{where}"


def run_preflight_command(args: argparse.Namespace) -> int:
    from slipway_dev.preflight import run_preflight

    config = load_config(LocalConfigSource(args.config))
    if args.env is not None and not any(args.env in p.environment_names() for p in config.pipelines.values()):
        names = sorted({n for p in config.pipelines.values() for n in p.environment_names()})
        raise CliError(f"no pipeline has an environment {args.env!r} (environments: {', '.join(names)})")
    account, where = account_for(args.state_dir)
    print(f"preflight of {args.config} against {where}")
    failed = 0
    for item in run_preflight(config, args.config, account, args.stack, args.env):
        if isinstance(item, str):
            print(item)
            continue
        print(f"  {item.line()}", flush=True)
        failed += 0 if item.ok else 1
    print(f"{failed} check(s) failed" if failed else "every check passed")
    return 1 if failed else 0

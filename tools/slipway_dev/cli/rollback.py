"""`slipway rollback PIPELINE ENV`: redeploy an environment's previous verified-good revision through the release flow.

The revision running now is the newest verified-good one (a deployment that succeeded, even if the application
turned out broken). The rollback target is the newest verified-good revision whose task definition differs from
it; with none, the command refuses. ``--revision ARN`` picks any verified-good revision explicitly.

The rollback is a release like any other (its own execution, audit record, lock, approval when the environment
requires one, CodeDeploy blue/green), with ``source: rollback`` and ``rollback_task_definition_arn`` set: it
skips rendering and deploys that exact task definition revision, which slipway never deregisters.

Where things are: ``--state-machine-arn``, else ``SLIPWAY_STATE_MACHINE_ARN``, else the local cloud's
``local.json`` (``state_machine_arn``; in ``$SLIPWAY_LOCAL_DIR`` or ``.slipway``, found by ``slipway_dev.local.state``);
the audit table likewise (``--audit-table``, ``SLIPWAY_AUDIT_TABLE``, ``audit_table`` or ``tables.AuditTable``).
``endpoint_url`` / ``aws_endpoint`` in ``local.json`` point the clients at the local cloud when
``AWS_ENDPOINT_URL`` is unset.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slipway.domain.release.gates import short_digest
from slipway.domain.release.rollback import GOOD_RECORDS_READ, RollbackRefused, choose_target, rollback_release
from slipway_dev.local.state import LocalStateError, read_local_state


class RollbackError(Exception):
    """A problem the user can fix; printed without a traceback."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback", help="redeploy an environment's previous verified-good revision (a release of its own)"
    )
    parser.add_argument("pipeline", help="the pipeline's name")
    parser.add_argument("environment", help="the environment to roll back")
    parser.add_argument(
        "--state-machine-arn", help="default: $SLIPWAY_STATE_MACHINE_ARN, then local.json ($SLIPWAY_LOCAL_DIR/.slipway)"
    )
    parser.add_argument(
        "--audit-table", help="default: $SLIPWAY_AUDIT_TABLE, then local.json ($SLIPWAY_LOCAL_DIR/.slipway)"
    )
    parser.add_argument(
        "--revision",
        help="task definition ARN to roll back to (must be verified good there; default: the newest verified-good "
        "revision that is not the one running now)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be deployed and what runs now, start nothing"
    )
    parser.set_defaults(func=run_rollback)


def _local_state(cwd: Path | None = None) -> dict[str, Any]:
    try:
        _, data = read_local_state(cwd=cwd)
    except LocalStateError as exc:
        raise RollbackError(str(exc)) from None
    return data or {}


def resolve(explicit: str | None, env_name: str, key: str, what: str, local: dict[str, Any]) -> str:
    value = explicit or os.environ.get(env_name) or local.get(key)
    if not isinstance(value, str) or not value:
        raise RollbackError(
            f"no {what}: pass --{key.replace('_', '-')}, set {env_name}, or run `slipway local up` "
            "(which writes local.json in $SLIPWAY_LOCAL_DIR or .slipway)"
        )
    return value


def _clients(local: dict[str, Any]) -> tuple[Any, Any]:
    import boto3

    endpoint = local.get("endpoint_url") if not os.environ.get("AWS_ENDPOINT_URL") else None
    kwargs: dict[str, Any] = {"endpoint_url": endpoint} if isinstance(endpoint, str) and endpoint else {}
    return boto3.client("dynamodb", **kwargs), boto3.client("stepfunctions", **kwargs)


def run_rollback(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from slipway.adapters.audit import AuditLog
    from slipway.adapters.stepfunctions import StepFunctionsReleases
    from slipway.domain.intake.start import start_release

    try:
        local = _local_state()
        table = resolve(args.audit_table, "SLIPWAY_AUDIT_TABLE", "audit_table", "audit table", local)
        machine = resolve(
            args.state_machine_arn, "SLIPWAY_STATE_MACHINE_ARN", "state_machine_arn", "state machine", local
        )
        dynamodb, sfn = _clients(local)
        audit = AuditLog(dynamodb, table)
        where = f"{args.environment} of {args.pipeline}"
        records = audit.verified_good(args.pipeline, args.environment, limit=GOOD_RECORDS_READ)
        target = choose_target(records, args.revision, where)
        running = records[0]
        release = rollback_release(
            target, audit.release(target.release_id), now=datetime.now(UTC), requested_by=os.environ.get("USER")
        )
        verb = "would roll back" if args.dry_run else "rollback"
        print(
            f"{verb} {where} to {release.rollback_task_definition_arn} "
            f"({release.repository}@{short_digest(release.digest)}, verified good by {target.release_id} "
            f"at {target.finished_at})"
        )
        print(
            f"runs now: {running.task_definition_arn} (digest {short_digest(running.digest)}, "
            f"verified good by {running.release_id} at {running.finished_at})"
        )
        if args.dry_run:
            print("dry run: nothing started")
            return 0
        outcome = start_release(release, [args.environment], starter=StepFunctionsReleases(sfn, machine), audit=audit)
        print(f"started {outcome.execution_arn}")
        return 0
    except (RollbackError, RollbackRefused) as exc:
        print(f"slipway rollback: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"slipway rollback: {exc}", file=sys.stderr)
        return 1

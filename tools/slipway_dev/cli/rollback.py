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

from slipway.domain.release import rollback_release_id, short_digest
from slipway.models.release import Release, ReleaseInput
from slipway_dev.local.state import LocalStateError, read_local_state

GOOD_RECORDS_READ = 100


class RollbackError(Exception):
    """A problem the user can fix; printed without a traceback."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback", help="redeploy an environment's previous verified-good revision (a release of its own)"
    )
    parser.add_argument("pipeline")
    parser.add_argument("environment")
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


def current_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The revision running now: the newest verified-good record (``records`` are newest first)."""
    return records[0] if records else None


def choose_record(records: list[dict[str, Any]], revision: str | None, where: str) -> dict[str, Any]:
    """The GOOD record to roll back to: ``revision`` when given, else the newest one that is not running now."""
    if not records:
        raise RollbackError(f"{where} has no verified-good revision to roll back to")
    if revision is None:
        running = records[0].get("task_definition_arn")
        for record in records:
            if record.get("task_definition_arn") != running:
                return record
        raise RollbackError(
            f"{where} has no earlier verified-good revision to roll back to: the {len(records)} newest "
            f"verified-good record(s) are all {running}, the revision running now "
            "(pass --revision ARN to redeploy a revision explicitly)"
        )
    for record in records:
        if record.get("task_definition_arn") == revision:
            return record
    known = ", ".join(sorted({str(r.get("task_definition_arn")) for r in records}))
    raise RollbackError(f"{revision} was never verified good in {where} (verified good: {known})")


def build_rollback(
    pipeline: str, environment: str, record: dict[str, Any], meta: dict[str, Any] | None, now: datetime
) -> ReleaseInput:
    """The execution input of a rollback to ``record`` (a GOOD#<pipeline>#<env> item)."""
    original = (meta or {}).get("release") or {}
    if not original.get("registry") or not original.get("repository"):
        raise RollbackError(
            f"the audit record of release {record.get('release_id')} lacks its image registry/repository"
        )
    digest = str(record["digest"])
    release = Release(
        release_id=rollback_release_id(pipeline, digest, now),
        pipeline=pipeline,
        registry=str(original["registry"]),
        repository=str(original["repository"]),
        digest=digest,
        tags=[str(t) for t in original.get("tags") or []],
        commit=original.get("commit"),
        pushed_at=now,
        pushed_by=os.environ.get("USER"),
        source="rollback",
        rollback_task_definition_arn=str(record["task_definition_arn"]),
    )
    return ReleaseInput(release=release, environments=[environment])


def _clients(local: dict[str, Any]) -> tuple[Any, Any]:
    import boto3

    endpoint = local.get("endpoint_url") if not os.environ.get("AWS_ENDPOINT_URL") else None
    kwargs: dict[str, Any] = {"endpoint_url": endpoint} if isinstance(endpoint, str) and endpoint else {}
    return boto3.client("dynamodb", **kwargs), boto3.client("stepfunctions", **kwargs)


def run_rollback(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from slipway.adapters.audit import AuditLog

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
        record = choose_record(records, args.revision, where)
        running = current_record(records) or {}
        release_input = build_rollback(
            args.pipeline,
            args.environment,
            record,
            audit.release(str(record.get("release_id"))),
            datetime.now(UTC),
        )
        release = release_input.release
        verb = "would roll back" if args.dry_run else "rollback"
        print(
            f"{verb} {where} to {release.rollback_task_definition_arn} "
            f"({release.repository}@{short_digest(release.digest)}, verified good by {record.get('release_id')} "
            f"at {record.get('finished_at')})"
        )
        print(
            f"runs now: {running.get('task_definition_arn')} "
            f"(digest {short_digest(str(running.get('digest') or ''))}, "
            f"verified good by {running.get('release_id')} at {running.get('finished_at')})"
        )
        if args.dry_run:
            print("dry run: nothing started")
            return 0
        audit.release_started(release, release_input.environments)
        response = sfn.start_execution(
            stateMachineArn=machine, name=release.release_id, input=release_input.model_dump_json()
        )
        print(f"started {response['executionArn']}")
        return 0
    except RollbackError as exc:
        print(f"slipway rollback: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"slipway rollback: {exc}", file=sys.stderr)
        return 1

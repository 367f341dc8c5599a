"""`slipway retry PIPELINE RELEASE_ID`: start the next attempt of a release that ended without succeeding.

RELEASE_ID may name any attempt: the retry follows ``retried_by`` to the latest one, which must have ended FAILED,
REJECTED, EXPIRED or SUPERSEDED (``slipway.domain.intake.retry``). Attempt n+1 is an execution of its own
(``<attempt 1's id>-a<n+1>``) through every environment of attempt n, started through the same ``start_release``
as every other release. A CodePipeline release is retried from CodePipeline instead (retry the stage: a new job
for the digest starts the next attempt with the job's artifact, which the audit trail does not keep).

Where things are: the audit table as for ``slipway history`` (``slipway_dev.cli.audit_table``); the state machine
from ``--state-machine-arn``, else ``SLIPWAY_STATE_MACHINE_ARN``, else the local cloud's ``local.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from slipway.adapters.audit import AuditLog
from slipway_dev.cli.audit_table import CliError, audit_log, resolve_table
from slipway_dev.local.state import LocalStateError, read_local_state


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retry", help="start the next attempt of a release that ended without succeeding (failed, rejected, ...)"
    )
    parser.add_argument("pipeline", help="the pipeline the release belongs to (as in config/pipelines/)")
    parser.add_argument("release_id", metavar="RELEASE_ID", help="any attempt of the release (history shows them)")
    parser.add_argument(
        "--audit-table", help="default: $SLIPWAY_AUDIT_TABLE, then local.json ($SLIPWAY_LOCAL_DIR/.slipway)"
    )
    parser.add_argument(
        "--state-machine-arn", help="default: $SLIPWAY_STATE_MACHINE_ARN, then local.json ($SLIPWAY_LOCAL_DIR/.slipway)"
    )
    parser.set_defaults(func=run_retry)


def state_machine_arn(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("SLIPWAY_STATE_MACHINE_ARN"):
        return os.environ["SLIPWAY_STATE_MACHINE_ARN"]
    try:
        path, data = read_local_state()
    except LocalStateError as exc:
        raise CliError(str(exc)) from None
    arn = (data or {}).get("state_machine_arn")
    if isinstance(arn, str) and arn:
        return arn
    raise CliError(
        "no state machine: pass --state-machine-arn, set SLIPWAY_STATE_MACHINE_ARN, or run `slipway local up` "
        f"(which writes local.json; looked for {path})"
    )


def _sfn_client(audit_table: str | None) -> Any:
    import boto3

    _, endpoint = resolve_table(audit_table)
    if endpoint and not os.environ.get("AWS_ENDPOINT_URL"):
        return boto3.client("stepfunctions", endpoint_url=endpoint)
    return boto3.client("stepfunctions")


def retry(args: argparse.Namespace, audit: AuditLog) -> int:
    from slipway.adapters.stepfunctions import StepFunctionsReleases
    from slipway.domain.intake.retry import latest_attempt, next_attempt
    from slipway.domain.intake.start import start_release
    from slipway.models.release import first_attempt_id

    record = audit.release(args.release_id)
    if record is None or record.pipeline != args.pipeline:
        raise CliError(f"no release {args.release_id!r} in pipeline {args.pipeline!r} (see `slipway history`)")
    latest = latest_attempt(audit, record)
    release = next_attempt(latest)
    if release.source == "codepipeline":
        raise CliError(
            f"{latest.release_id} came from CodePipeline job {release.codepipeline_job_id}: retry the stage in "
            "CodePipeline (a new job for the digest starts the next attempt, with its artifact)"
        )
    starter = StepFunctionsReleases(_sfn_client(args.audit_table), state_machine_arn(args.state_machine_arn))
    outcome = start_release(release, latest.environments, starter=starter, audit=audit)
    if outcome.status == "duplicate":
        print(f"attempt {release.attempt} of {args.release_id} has started already: {outcome.execution_arn}")
        return 0
    print(
        f"started attempt {release.attempt} of {first_attempt_id(release)} (attempt {latest.attempt} ended "
        f"{latest.status}): {release.release_id} through {', '.join(latest.environments)}\n{outcome.execution_arn}"
    )
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from slipway.domain.intake.retry import RetryRefused

    try:
        return retry(args, audit_log(args))
    except (CliError, RetryRefused) as exc:
        print(f"slipway retry: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"slipway retry: {exc}", file=sys.stderr)
        return 1

"""What `slipway history`, `status` and `dora` share: their common options, finding the audit table, and running.

They use boto3's default session (so ``AWS_ENDPOINT_URL`` points them at the local cloud). The audit table name
comes from ``--audit-table``, else ``SLIPWAY_AUDIT_TABLE``, else the local cloud's ``local.json`` in
``$SLIPWAY_LOCAL_DIR`` or ``.slipway`` (found by ``slipway_dev.local.state``, as every command does; key
``audit_table`` or ``tables.AuditTable``; its ``endpoint_url`` / ``aws_endpoint``, if any, is used when
``AWS_ENDPOINT_URL`` is not set).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from slipway.adapters.audit import AuditLog
from slipway_dev.cli.errors import CliError
from slipway_dev.local.state import LocalStateError, read_local_state

__all__ = ["CliError", "audit_log", "common_options", "positive_int", "resolve_table", "run_with_audit"]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def common_options() -> argparse.ArgumentParser:
    """``--audit-table`` and ``--json``: a parent parser for each read-only command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--audit-table",
        help="audit table name (default: $SLIPWAY_AUDIT_TABLE, then local.json in $SLIPWAY_LOCAL_DIR or .slipway)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return common


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def resolve_table(
    explicit: str | None, environ: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[str, str | None]:
    """(table name, endpoint url from the local cloud's local.json or None), in the documented order."""
    env = dict(os.environ) if environ is None else environ
    if explicit:
        return explicit, None
    if env.get("SLIPWAY_AUDIT_TABLE"):
        return env["SLIPWAY_AUDIT_TABLE"], None
    try:
        state, data = read_local_state(environ=env, cwd=cwd or Path.cwd())
    except LocalStateError as exc:
        raise CliError(str(exc)) from None
    if data is not None:
        table = data.get("audit_table")
        if isinstance(table, str) and table:
            endpoint = data.get("endpoint_url")
            return table, endpoint if isinstance(endpoint, str) and endpoint else None
        raise CliError(f"{state} has no audit_table key (nor tables.AuditTable)")
    raise CliError(
        "no audit table: pass --audit-table NAME, set SLIPWAY_AUDIT_TABLE, or run `slipway local up` "
        f"(which writes local.json; looked for {state})"
    )


def audit_log(args: argparse.Namespace) -> AuditLog:
    import boto3

    table, endpoint = resolve_table(args.audit_table)
    client: DynamoDBClient
    if endpoint and not os.environ.get("AWS_ENDPOINT_URL"):
        client = boto3.client("dynamodb", endpoint_url=endpoint)
    else:
        client = boto3.client("dynamodb")
    return AuditLog(client, table)


def run_with_audit(args: argparse.Namespace, body: Callable[[argparse.Namespace, AuditLog], int]) -> int:
    """``body(args, audit)``; AWS refusing a read of the audit table exits 1 with one line that says so. Anything
    else (a CliError, no region or credentials, no network) is told by `slipway`'s one error handler."""
    from botocore.exceptions import ClientError

    try:
        return int(body(args, audit_log(args)))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"slipway {args.command}: cannot read the audit table: AWS refused {exc.operation_name}: "
            f"{error.get('Code')}: {error.get('Message', '')}",
            file=sys.stderr,
        )
        return 1

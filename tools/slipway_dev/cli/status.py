"""`slipway status [PIPELINE]`: the releases in flight, each with its stage, whom it waits for and since when.
A terminal gets a table (rich); ``--json`` prints JSON."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from slipway.adapters.audit import AuditLog
from slipway.domain.dora import format_duration, parse_time
from slipway.models.records import AuditEvent, AuditKind, ReleaseRecord
from slipway_dev.cli.audit_table import common_options, run_with_audit
from slipway_dev.cli.output import print_json, print_table, short_time


def register(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status", parents=[common_options()], help="releases in flight: stage, waiting for whom"
    )
    status.add_argument("pipeline", nargs="?", help="only this pipeline")
    status.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    return run_with_audit(args, status)


def describe_wait(record: ReleaseRecord, event: AuditEvent | None) -> dict[str, Any]:
    """What a running release is doing: stage, environment, waiting for whom, since when."""
    kind = event.kind if event else None
    data = event.data if event else {}
    since = event.at if event else record.started_at
    if kind is AuditKind.APPROVAL_REQUESTED:
        approvers = data.get("approvers") or []
        if approvers:
            who = ", ".join(str(a) for a in approvers)
        elif data.get("required"):
            who = f"{data['required']} approval(s)"
        else:
            who = "approvers"
        channel = f" in {data['channel']}" if data.get("channel") else ""
        until = f" until {short_time(data['expires'])}" if data.get("expires") else ""
        stage, waiting = "approval", f"{who}{channel}{until}"
    elif kind is AuditKind.APPROVAL_DECISION:
        stage, waiting = "approval", "more approvals or the deployment to start"
    elif kind is AuditKind.DEPLOYMENT_STARTED:
        stage, waiting = "deploying", f"deployment {data.get('deployment_id', '?')}"
    elif kind is AuditKind.PLAN:
        stage, waiting = "planned", "the next step"
    elif kind is None:
        stage, waiting = "starting", "the first environment"
    else:
        stage, waiting = kind.value, "the next step"
    return {
        "release_id": record.release_id,
        "pipeline": record.pipeline,
        "tags": record.tags or record.release.tags,
        "started_at": record.started_at,
        "environment": event.environment if event else None,
        "stage": stage,
        "waiting_for": waiting,
        "since": since,
    }


def status(args: argparse.Namespace, audit: AuditLog) -> int:
    rows_data = [describe_wait(r, e) for r, e in audit.in_flight() if args.pipeline in (None, r.pipeline)]
    if args.json:
        print_json(rows_data)
        return 0
    if not rows_data:
        print("nothing in flight" + (f" for {args.pipeline}" if args.pipeline else ""))
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            str(r["pipeline"]),
            str(r["release_id"]),
            ", ".join(r["tags"]) or "-",
            str(r["environment"] or "-"),
            str(r["stage"]),
            str(r["waiting_for"]),
            f"{short_time(r['since'])} ({_age(r['since'], now)} ago)",
        ]
        for r in rows_data
    ]
    print_table("in flight", ["pipeline", "release", "tags", "env", "stage", "waiting for", "since"], rows)
    return 0


def _age(value: Any, now: datetime) -> str:
    parsed = parse_time(value)
    return format_duration((now - parsed).total_seconds()) if parsed else "?"

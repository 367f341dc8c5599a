"""`slipway status [PIPELINE]`: the releases in flight, each with its stage, whom it waits for and since when.
A terminal gets a table (rich); ``--json`` prints JSON."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from slipway.adapters.audit import AuditLog, EventKind
from slipway.domain.dora import format_duration, parse_time
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


def describe_wait(meta: dict[str, Any]) -> dict[str, Any]:
    """What a running release is doing: stage, environment, waiting for whom, since when."""
    event = meta.get("last_event") or {}
    kind = event.get("kind")
    data = event.get("data") or {}
    env = event.get("environment")
    since = event.get("at") or meta.get("started_at")
    if kind == EventKind.APPROVAL_REQUESTED:
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
    elif kind == EventKind.APPROVAL_DECISION:
        stage, waiting = "approval", "more approvals or the deployment to start"
    elif kind == EventKind.DEPLOYMENT_STARTED:
        stage, waiting = "deploying", f"CodeDeploy {data.get('deployment_id', '?')}"
    elif kind == EventKind.LOCK_WAITING:
        stage, waiting = "queued", f"lock held by {data.get('holder', 'another release')}"
    elif kind == EventKind.PLAN:
        stage, waiting = "planned", "the next step"
    elif kind is None:
        stage, waiting = "starting", "the first environment"
    else:
        stage, waiting = str(kind), "the next step"
    return {
        "release_id": meta.get("release_id"),
        "pipeline": meta.get("pipeline"),
        "tags": (meta.get("release") or {}).get("tags", []),
        "started_at": meta.get("started_at"),
        "environment": env,
        "stage": stage,
        "waiting_for": waiting,
        "since": since,
    }


def status(args: argparse.Namespace, audit: AuditLog) -> int:
    rows_data = [describe_wait(m) for m in audit.in_flight() if args.pipeline in (None, m.get("pipeline"))]
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

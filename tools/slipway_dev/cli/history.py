"""`slipway history`, `slipway status` and `slipway dora`: reading the audit trail.

They use boto3's default session (so ``AWS_ENDPOINT_URL`` points them at the local cloud). The audit table name
comes from ``--audit-table``, else ``SLIPWAY_AUDIT_TABLE``, else the local cloud's ``local.json`` in
``$SLIPWAY_LOCAL_DIR`` or ``.slipway`` (found by ``slipway_dev.local.state``, as every command does; key
``audit_table`` or ``tables.AuditTable``; its ``endpoint_url`` / ``aws_endpoint``, if any, is used when
``AWS_ENDPOINT_URL`` is not set).
A terminal gets tables (rich); ``--json`` prints JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway.adapters.audit import AuditLog, EventKind
from slipway.domain.dora import dora_figures, format_duration, parse_time
from slipway_dev.local.state import LocalStateError, read_local_state

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DORA reads releases started this long before the window, so a release that started before the window and
# reached production inside it still counts.
DORA_LOOKBACK_MARGIN = timedelta(days=14)
DORA_MAX_RELEASES = 5000


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--audit-table",
        help="audit table name (default: $SLIPWAY_AUDIT_TABLE, then local.json in $SLIPWAY_LOCAL_DIR or .slipway)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")

    history = subparsers.add_parser("history", parents=[common], help="a pipeline's releases, newest first")
    history.add_argument("pipeline")
    history.add_argument("--env", help="only releases that go through this environment, with its outcome")
    history.add_argument("--limit", type=_positive_int, default=20, help="how many releases (default 20)")
    history.add_argument("--release", help="one release in detail: every event, approval and deployment")
    history.set_defaults(func=run_history)

    status = subparsers.add_parser("status", parents=[common], help="releases in flight: stage, waiting for whom")
    status.add_argument("pipeline", nargs="?", help="only this pipeline")
    status.set_defaults(func=run_status)

    dora = subparsers.add_parser("dora", parents=[common], help="DORA figures of a pipeline from the audit trail")
    dora.add_argument("pipeline")
    dora.add_argument("--days", type=_positive_int, default=30, help="window length in days (default 30)")
    dora.add_argument("--env", help="the production environment (default: each release's last environment)")
    dora.add_argument("--now", type=_iso_time, help="end of the window, ISO 8601 (default: now)")
    dora.set_defaults(func=run_dora)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_time(text: str) -> datetime:
    parsed = parse_time(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}")
    return parsed


# ---------------------------------------------------------------- wiring
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


def _run(args: argparse.Namespace, body: Any) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return int(body(args, audit_log(args)))
    except CliError as exc:
        print(f"slipway {args.command}: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"slipway {args.command}: cannot read the audit table: {exc}", file=sys.stderr)
        return 1


def run_history(args: argparse.Namespace) -> int:
    return _run(args, history)


def run_status(args: argparse.Namespace) -> int:
    return _run(args, status)


def run_dora(args: argparse.Namespace) -> int:
    return _run(args, dora)


# ---------------------------------------------------------------- history
def history_records(audit: AuditLog, pipeline: str, env: str | None, limit: int) -> list[dict[str, Any]]:
    """META items with ``results`` (env -> ENV# item), newest first; with ``env``, only releases through it."""
    out: list[dict[str, Any]] = []
    fetch = limit if env is None else max(limit * 4, 50)
    for meta in audit.releases(pipeline, limit=fetch):
        if env is not None and env not in (meta.get("environments") or []):
            continue
        meta["results"] = audit.environment_results(str(meta["release_id"]))
        out.append(meta)
        if len(out) >= limit:
            break
    return out


def history(args: argparse.Namespace, audit: AuditLog) -> int:
    if args.release:
        detail = audit.release_detail(args.release)
        if detail is None or detail.get("pipeline") != args.pipeline:
            raise CliError(f"no release {args.release!r} in pipeline {args.pipeline!r}")
        if args.json:
            _print_json(detail)
        else:
            _print_release_detail(detail)
        return 0
    records = history_records(audit, args.pipeline, args.env, args.limit)
    if args.json:
        _print_json(records)
        return 0
    if not records:
        print(f"no releases of {args.pipeline}" + (f" through {args.env}" if args.env else ""))
        return 0
    if args.env:
        columns = ["started", "release", "tags", "commit", args.env, "revision", "deployment", "release status"]
        rows = [
            [
                _short_time(r.get("started_at")),
                str(r["release_id"]),
                _tags(r),
                _commit(r),
                _env_status(r, args.env),
                _revision(r["results"].get(args.env, {}).get("task_definition_arn")),
                str(r["results"].get(args.env, {}).get("deployment_id") or "-"),
                str(r.get("status", "?")),
            ]
            for r in records
        ]
    else:
        columns = ["started", "release", "tags", "commit", "environments", "status", "took", "cause"]
        rows = [
            [
                _short_time(r.get("started_at")),
                str(r["release_id"]),
                _tags(r),
                _commit(r),
                " ".join(f"{e}:{_env_status(r, e)}" for e in r.get("environments") or []),
                str(r.get("status", "?")),
                _took(r.get("started_at"), r.get("finished_at")),
                str(r.get("cause") or ""),
            ]
            for r in records
        ]
    _print_table(f"{args.pipeline} releases", columns, rows)
    return 0


def _print_release_detail(detail: dict[str, Any]) -> None:
    print(f"{detail['release_id']}  {detail.get('status', '?')}  started {detail.get('started_at', '?')}")
    release = detail.get("release") or {}
    print(
        f"  image {release.get('repository', '?')}@{release.get('digest', '?')}  tags {_tags(detail)}  "
        f"commit {_commit(detail)}  source {release.get('source', '?')}"
    )
    if detail.get("cause"):
        print(f"  cause: {detail['cause']}")
    rows = []
    for event in detail.get("events", []):
        data = event.get("data") or {}
        summary = ", ".join(f"{k}={_compact(v)}" for k, v in data.items())
        rows.append([_short_time(event.get("at")), str(event.get("environment") or ""), str(event["kind"]), summary])
    for env, result in (detail.get("results") or {}).items():
        rows.append(
            [
                _short_time(result.get("finished_at")),
                env,
                f"finished {result.get('status')}",
                f"plan={str(result.get('plan_hash') or '-')[:12]} "
                f"revision={_revision(result.get('task_definition_arn'))} "
                f"deployment={result.get('deployment_id') or '-'}",
            ]
        )
    rows.sort(key=lambda r: r[0])
    _print_table("events", ["at", "env", "what", "details"], rows)


# ---------------------------------------------------------------- status
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
        until = f" until {_short_time(data['expires'])}" if data.get("expires") else ""
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
        _print_json(rows_data)
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
            f"{_short_time(r['since'])} ({_age(r['since'], now)} ago)",
        ]
        for r in rows_data
    ]
    _print_table("in flight", ["pipeline", "release", "tags", "env", "stage", "waiting for", "since"], rows)
    return 0


# ---------------------------------------------------------------- dora
def dora(args: argparse.Namespace, audit: AuditLog) -> int:
    now = args.now or datetime.now(UTC)
    since = (now - timedelta(days=args.days) - DORA_LOOKBACK_MARGIN).isoformat()
    records = audit.releases(args.pipeline, limit=DORA_MAX_RELEASES, since=since)
    for record in records:
        record["results"] = audit.environment_results(str(record["release_id"]))
    figures = dora_figures(records, now=now, days=args.days, production=args.env, pipeline=args.pipeline)
    if args.json:
        _print_json(figures.as_dict())
        return 0
    rate = figures.change_failure_rate
    rows = [
        [
            "deployment frequency",
            f"{figures.deployments} in {figures.days} d ({figures.deployment_frequency_per_day:.2f}/day)",
        ],
        [
            "lead time for changes",
            f"median {format_duration(figures.lead_time_median_seconds)}, "
            f"mean {format_duration(figures.lead_time_mean_seconds)} ({figures.lead_time_samples} changes)",
        ],
        [
            "change failure rate",
            "-"
            if rate is None
            else f"{rate:.0%} ({figures.change_failures} of {figures.production_attempts} production deployments)",
        ],
        [
            "time to restore",
            f"median {format_duration(figures.time_to_restore_median_seconds)}, "
            f"mean {format_duration(figures.time_to_restore_mean_seconds)} ({figures.restores} restored, "
            f"{figures.open_incidents} open)",
        ],
        ["releases by status", ", ".join(f"{k} {v}" for k, v in figures.release_statuses.items()) or "-"],
    ]
    _print_table(f"DORA {args.pipeline}, last {args.days} days", ["figure", "value"], rows)
    return 0


# ---------------------------------------------------------------- output helpers
def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a CLI extra ([local]); plain columns without it
        print(title)
        for row in [columns, *rows]:
            print("\t".join(row))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _short_time(value: Any) -> str:
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def _age(value: Any, now: datetime) -> str:
    parsed = parse_time(value)
    return format_duration((now - parsed).total_seconds()) if parsed else "?"


def _took(start: Any, end: Any) -> str:
    a, b = parse_time(start), parse_time(end)
    return format_duration((b - a).total_seconds()) if a and b else "-"


def _tags(record: dict[str, Any]) -> str:
    return ", ".join((record.get("release") or {}).get("tags", [])) or "-"


def _commit(record: dict[str, Any]) -> str:
    commit = (record.get("release") or {}).get("commit")
    return str(commit)[:12] if commit else "-"


def _env_status(record: dict[str, Any], env: str) -> str:
    result = (record.get("results") or {}).get(env)
    if result:
        return str(result.get("status", "?"))
    return "running" if record.get("status") == "RUNNING" else "-"


def _revision(arn: Any) -> str:
    return str(arn).rsplit("/", 1)[-1] if arn else "-"


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."

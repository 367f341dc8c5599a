"""`slipway history PIPELINE`: a pipeline's releases, newest first (``--env``: only those through it, with its
outcome; ``--release ID``: one release in detail). A terminal gets a table (rich); ``--json`` prints JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from slipway.adapters.audit import AuditLog
from slipway.domain.dora import format_duration, parse_time
from slipway_dev.cli.audit_table import CliError, common_options, positive_int, run_with_audit
from slipway_dev.cli.output import print_json, print_table, short_time


def register(subparsers: Any) -> None:
    history = subparsers.add_parser("history", parents=[common_options()], help="a pipeline's releases, newest first")
    history.add_argument("pipeline")
    history.add_argument("--env", help="only releases that go through this environment, with its outcome")
    history.add_argument("--limit", type=positive_int, default=20, help="how many releases (default 20)")
    history.add_argument("--release", help="one release in detail: every event, approval and deployment")
    history.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    return run_with_audit(args, history)


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
            print_json(detail)
        else:
            _print_release_detail(detail)
        return 0
    records = history_records(audit, args.pipeline, args.env, args.limit)
    if args.json:
        print_json(records)
        return 0
    if not records:
        print(f"no releases of {args.pipeline}" + (f" through {args.env}" if args.env else ""))
        return 0
    if args.env:
        columns = ["started", "release", "tags", "commit", args.env, "revision", "deployment", "release status"]
        rows = [
            [
                short_time(r.get("started_at")),
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
                short_time(r.get("started_at")),
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
    print_table(f"{args.pipeline} releases", columns, rows)
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
        rows.append([short_time(event.get("at")), str(event.get("environment") or ""), str(event["kind"]), summary])
    for env, result in (detail.get("results") or {}).items():
        rows.append(
            [
                short_time(result.get("finished_at")),
                env,
                f"finished {result.get('status')}",
                f"plan={str(result.get('plan_hash') or '-')[:12]} "
                f"revision={_revision(result.get('task_definition_arn'))} "
                f"deployment={result.get('deployment_id') or '-'}",
            ]
        )
    rows.sort(key=lambda r: r[0])
    print_table("events", ["at", "env", "what", "details"], rows)


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

"""`slipway history PIPELINE`: a pipeline's releases, newest first (``--env``: only those through it, with its
outcome; ``--release ID``: one release in detail). A terminal gets a table (rich); ``--json`` prints JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from slipway.adapters.audit import AuditLog
from slipway.domain.dora import format_duration, parse_time
from slipway.models.records import ReleaseHistory
from slipway_dev.cli.audit_table import CliError, common_options, positive_int, run_with_audit
from slipway_dev.cli.output import plain, print_json, print_table, short_time


def register(subparsers: Any) -> None:
    history = subparsers.add_parser("history", parents=[common_options()], help="a pipeline's releases, newest first")
    history.add_argument("pipeline", help="the pipeline's name")
    history.add_argument("--env", help="only releases that go through this environment, with its outcome")
    history.add_argument("--limit", type=positive_int, default=20, help="how many releases (default 20)")
    history.add_argument("--release", help="one release in detail: every event, approval and deployment")
    history.add_argument(
        "--config",
        type=Path,
        help="config folder to tell an unknown pipeline from one without releases (default: ./config, then the "
        "local cloud's)",
    )
    history.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    return run_with_audit(args, history)


def history_records(audit: AuditLog, pipeline: str, env: str | None, limit: int) -> list[ReleaseHistory]:
    """Releases with their results and events, newest first; with ``env``, only releases through it."""
    out: list[ReleaseHistory] = []
    fetch = limit if env is None else max(limit * 4, 50)
    for record in audit.releases(pipeline, limit=fetch):
        if env is not None and env not in record.environments:
            continue
        found = audit.history(record.release_id)
        if found is not None:
            out.append(found)
        if len(out) >= limit:
            break
    return out


def history_json(found: ReleaseHistory) -> dict[str, Any]:
    """One release as ``--json`` prints it: the record, each environment's result, who approved or rejected which
    environment, the events."""
    data: dict[str, Any] = plain(found.record)
    data["attempt"] = found.record.attempt
    data["retry_of"] = found.record.release.retry_of
    data["results"] = plain(found.results)
    data["approvals"] = plain(found.approvals())
    data["events"] = plain(found.events)
    return data


def history(args: argparse.Namespace, audit: AuditLog) -> int:
    if args.release:
        detail = audit.history(args.release)
        if detail is None or detail.record.pipeline != args.pipeline:
            raise CliError(f"no release {args.release!r} in pipeline {args.pipeline!r}")
        if args.json:
            print_json(history_json(detail))
        else:
            _print_release_detail(detail)
        return 0
    found = history_records(audit, args.pipeline, args.env, args.limit)
    if not found:
        _known_pipeline(args.pipeline, args.config)
    if args.json:
        print_json([history_json(h) for h in found])
        return 0
    if not found:
        print(f"no releases of {args.pipeline}" + (f" through {args.env}" if args.env else ""))
        return 0
    if args.env:
        columns = [
            "started",
            "release",
            "attempt",
            "tags",
            "commit",
            args.env,
            "revision",
            "deployment",
            "approved by",
            "status",
        ]
        rows = []
        for h in found:
            result = h.results.get(args.env)
            rows.append(
                [
                    short_time(h.record.started_at),
                    h.record.release_id,
                    _attempt(h),
                    _tags(h),
                    _commit(h),
                    _env_status(h, args.env),
                    _revision(result.task_definition_arn if result else None),
                    (result.deployment_id if result else None) or "-",
                    _approved_by(h, args.env),
                    h.record.status,
                ]
            )
    else:
        columns = [
            "started",
            "release",
            "attempt",
            "tags",
            "commit",
            "environments",
            "approved by",
            "status",
            "took",
            "cause",
        ]
        rows = [
            [
                short_time(h.record.started_at),
                h.record.release_id,
                _attempt(h),
                _tags(h),
                _commit(h),
                " ".join(f"{e}:{_env_status(h, e)}" for e in h.record.environments),
                _approved_by(h),
                h.record.status,
                _took(h.record.started_at, h.record.finished_at),
                h.record.cause or "",
            ]
            for h in found
        ]
    print_table(f"{args.pipeline} releases", columns, rows)
    return 0


def _known_pipeline(name: str, config_dir: Path | None) -> None:
    """Raise CliError when the config folder (``--config``, ./config, the local cloud's) has no such pipeline."""
    from slipway.domain.config import LocalConfigSource, load_config
    from slipway.errors import ConfigError
    from slipway_dev.local.state import LocalStateError, read_local_state

    folder = config_dir
    if folder is None:
        try:
            _, state = read_local_state()
        except LocalStateError:
            state = None
        candidates = [Path("config"), Path(str((state or {}).get("config_dir") or "config"))]
        folder = next((c for c in candidates if (c / "pipelines").is_dir()), None)
    if folder is None:
        return
    try:
        known = sorted(load_config(LocalConfigSource(folder)).pipelines)
    except ConfigError:
        return  # `slipway validate` reports a broken config; history only looks names up
    if name not in known:
        raise CliError(f"unknown pipeline {name!r} (pipelines in {folder}: {', '.join(known) or 'none'})")


def _print_release_detail(detail: ReleaseHistory) -> None:
    record, release = detail.record, detail.record.release
    print(f"{record.release_id}  {record.status}  started {record.started_at}")
    print(
        f"  image {release.repository}@{release.digest}  tags {_tags(detail)}  commit {_commit(detail)}  "
        f"source {release.source}"
    )
    if record.attempt > 1 or record.retried_by:
        retried = f"; retried by {record.retried_by}" if record.retried_by else ""
        of = f" (retry of {release.retry_of})" if release.retry_of else ""
        print(f"  attempt {record.attempt}{of}{retried}")
    if record.cause:
        print(f"  cause: {record.cause}")
    rows = []
    for event in detail.events:
        summary = ", ".join(f"{k}={_compact(v)}" for k, v in event.data.items())
        rows.append([short_time(event.at), event.environment or "", event.kind.value, summary])
    for env, result in detail.results.items():
        rows.append(
            [
                short_time(result.finished_at),
                env,
                f"finished {result.status}",
                f"plan={(result.plan_hash or '-')[:12]} revision={_revision(result.task_definition_arn)} "
                f"deployment={result.deployment_id or '-'}",
            ]
        )
    rows.sort(key=lambda r: r[0])
    print_table("events", ["at", "env", "what", "details"], rows)


def _approved_by(found: ReleaseHistory, env: str | None = None) -> str:
    """Who approved (each environment that needed it), e.g. ``production: <U1>, <U2>``; ``-`` for nobody."""
    by_env: dict[str, list[str]] = {}
    for decision in found.approvals():
        if decision.decision == "approve" and env in (None, decision.environment):
            by_env.setdefault(decision.environment or "?", []).append(decision.user)
    if not by_env:
        return "-"
    if env is not None:
        return ", ".join(by_env.get(env, [])) or "-"
    return "; ".join(f"{name}: {', '.join(users)}" for name, users in by_env.items())


def _attempt(found: ReleaseHistory) -> str:
    """``1``; ``2 (retried)`` when a later attempt exists."""
    return f"{found.record.attempt}" + (" (retried)" if found.record.retried_by else "")


def _took(start: Any, end: Any) -> str:
    a, b = parse_time(start), parse_time(end)
    return format_duration((b - a).total_seconds()) if a and b else "-"


def _tags(found: ReleaseHistory) -> str:
    return ", ".join(found.record.tags or found.record.release.tags) or "-"


def _commit(found: ReleaseHistory) -> str:
    commit = found.record.commit or found.record.release.commit
    return commit[:12] if commit else "-"


def _env_status(found: ReleaseHistory, env: str) -> str:
    result = found.results.get(env)
    if result:
        return result.status
    return "running" if found.record.running else "-"


def _revision(arn: Any) -> str:
    return str(arn).rsplit("/", 1)[-1] if arn else "-"


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."

"""`slipway dora PIPELINE`: the four DORA figures of a pipeline over ``--days`` from the audit trail (deployment
frequency, lead time for changes, change failure rate, time to restore). A terminal gets a table (rich); ``--json``
prints JSON."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from slipway.adapters.audit import AuditLog
from slipway.domain.dora import dora_figures, format_duration, parse_time
from slipway_dev.cli.audit_table import common_options, positive_int, run_with_audit
from slipway_dev.cli.output import print_json, print_table

# DORA reads releases started this long before the window, so a release that started before the window and
# reached production inside it still counts.
DORA_LOOKBACK_MARGIN = timedelta(days=14)
DORA_MAX_RELEASES = 5000


def register(subparsers: Any) -> None:
    dora = subparsers.add_parser(
        "dora", parents=[common_options()], help="DORA figures of a pipeline from the audit trail"
    )
    dora.add_argument("pipeline", help="the pipeline's name")
    dora.add_argument("--days", type=positive_int, default=30, help="window length in days (default 30)")
    dora.add_argument("--env", help="the production environment (default: each release's last environment)")
    dora.add_argument("--now", type=_iso_time, help="end of the window, ISO 8601 (default: now)")
    dora.set_defaults(func=run_dora)


def _iso_time(text: str) -> datetime:
    parsed = parse_time(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}")
    return parsed


def run_dora(args: argparse.Namespace) -> int:
    return run_with_audit(args, dora)


def dora(args: argparse.Namespace, audit: AuditLog) -> int:
    now = args.now or datetime.now(UTC)
    since = (now - timedelta(days=args.days) - DORA_LOOKBACK_MARGIN).isoformat()
    histories = audit.histories(args.pipeline, limit=DORA_MAX_RELEASES, since=since)
    figures = dora_figures(histories, now=now, days=args.days, production=args.env, pipeline=args.pipeline)
    if args.json:
        print_json(figures.as_dict())
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
    print_table(f"DORA {args.pipeline}, last {args.days} days", ["figure", "value"], rows)
    return 0
